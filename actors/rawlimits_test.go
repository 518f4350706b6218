package actors

import (
	"errors"
	"testing"
	"time"

	"github.com/Azure/go-amqp"

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
	expectSizeExceeded(t, c, b)
}

// The size limit counts the whole delivery: many small frames adding up past max-message-size get the
// same amqp:link:message-size-exceeded as one big one.
func TestRawMessageSizeExceededAcrossFrames(t *testing.T) {
	b := startBroker(t, func(o *Options) { o.Limits.MaxMessageSize = 1024 })
	c, _ := rawOpen(t, b, nil)
	c.begin(0)
	c.send(0, &protocol.Attach{Name: "chunked", Handle: 0, Role: protocol.RoleSender,
		Source: &protocol.Source{}, Target: &protocol.Target{Address: protocol.Some("sized")},
		InitialDeliveryCount: protocol.Some(uint32(0))})
	expectFrame[*protocol.Attach](c)
	expectFrame[*protocol.Flow](c)
	payload := protocol.AppendDataSection(nil, make([]byte, 2048))
	var out []byte
	for i := 0; i < len(payload); i += 256 {
		tr := &protocol.Transfer{Handle: 0, More: i+256 < len(payload)}
		if i == 0 {
			tr.DeliveryID, tr.DeliveryTag, tr.MessageFormat = protocol.Some(uint32(0)), []byte{1}, protocol.Some(uint32(0))
		}
		var err error
		out, err = protocol.AppendTransferFrame(out, 0, tr, payload[i:min(i+256, len(payload))])
		require.NoError(t, err)
	}
	c.write(out)
	expectSizeExceeded(t, c, b)
}

// Past the total connection limit a client that skips SASL gets open then close with
// amqp:resource-limit-exceeded; closing a connection frees its place.
func TestRawConnectionLimitTotal(t *testing.T) {
	b := startBroker(t, func(o *Options) { o.Limits.MaxConnections = 2 })
	first := dial(t, b, nil)
	dial(t, b, nil)
	require.Eventually(t, func() bool { return b.connCount.Load() == 2 }, 5*time.Second, 5*time.Millisecond)

	c := rawDial(t, b)
	c.write(protocol.AppendProtoHeader(nil, protocol.ProtoAMQP))
	require.Equal(t, protocol.ProtoAMQP, c.readHeader().ID)
	expectFrame[*protocol.Open](c)
	e := c.expectClose(protocol.ErrResourceLimitExceeded)
	assert.Contains(t, e.Description, "connection limit")

	third, err := amqp.Dial(testCtx(t), "amqp://"+b.Addr().String(), nil)
	if err == nil {
		_, err = third.NewSession(testCtx(t), nil)
	}
	var ce *amqp.Error
	require.True(t, errors.As(err, &ce), "%v", err)
	assert.Equal(t, amqp.ErrCond("amqp:resource-limit-exceeded"), ce.Condition)

	require.NoError(t, first.Close())
	require.Eventually(t, func() bool { return b.connCount.Load() == 1 }, 5*time.Second, 5*time.Millisecond)
	assertBrokerServes(t, b)
}

// expectSizeExceeded: the producer's link is detached with amqp:link:message-size-exceeded and the
// broker still serves others.
func expectSizeExceeded(t *testing.T, c *rawClient, b *Broker) {
	t.Helper()
	d := expectFrame[*protocol.Detach](c)
	require.NotNil(t, d.Error)
	assert.Equal(t, protocol.ErrMessageSizeExceeded, d.Error.Condition)
	assertBrokerServes(t, b)
}
