package actors

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/protocol"
)

// A producer that ignores the advertised max-message-size gets its link detached with
// amqp:link:message-size-exceeded; the session and the broker live on.
func TestRawMessageSizeExceeded(t *testing.T) {
	b := startBroker(t, func(o *Options) { o.Limits.MaxMessageSize = 1024 })
	c, _ := rawOpen(t, b, nil)
	c.begin(0)
	c.send(0, &protocol.Attach{Name: "big", Handle: 0, Role: protocol.RoleSender,
		Source: &protocol.Source{}, Target: &protocol.Target{Address: protocol.Some("sized")},
		InitialDeliveryCount: protocol.Some(uint32(0))})
	a := expectFrame[*protocol.Attach](c)
	assert.Equal(t, uint64(1024), a.MaxMessageSize)
	expectFrame[*protocol.Flow](c) // credit
	payload := protocol.AppendDataSection(nil, make([]byte, 4096))
	out, err := protocol.AppendTransferFrame(nil, 0, &protocol.Transfer{Handle: 0, DeliveryID: protocol.Some(uint32(0)),
		DeliveryTag: []byte{1}, MessageFormat: protocol.Some(uint32(0))}, payload)
	require.NoError(t, err)
	c.write(out)
	d := expectFrame[*protocol.Detach](c)
	require.NotNil(t, d.Error)
	assert.Equal(t, protocol.ErrMessageSizeExceeded, d.Error.Condition)
	assertBrokerServes(t, b)
}
