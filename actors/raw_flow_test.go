package actors

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/protocol"
)

// go-amqp v1.7.0's receiver may still issue credit after it sent its detach. A flow on a handle the
// peer itself detached is ignored (the session lives on); a flow on a handle that was never attached
// still ends the session with unattached-handle (spec 2.7.4).
func TestRawFlowAfterPeerDetachIsIgnored(t *testing.T) {
	b := startBroker(t)
	c, _ := rawOpen(t, b, nil)
	c.begin(0)
	c.send(0, &protocol.Attach{Name: "late-flow", Handle: 3, Role: protocol.RoleReceiver,
		Source: &protocol.Source{Address: protocol.Some("late-flow-q")}, Target: &protocol.Target{}})
	att := expectFrame[*protocol.Attach](c)
	require.NotNil(t, att.Source, "the consumer's attach is accepted")
	c.send(0, &protocol.Detach{Handle: 3, Closed: true})
	expectFrame[*protocol.Detach](c)

	flow := func(handle uint32) *protocol.Flow {
		return &protocol.Flow{NextIncomingID: protocol.Some[uint32](0), IncomingWindow: 100, NextOutgoingID: 0,
			OutgoingWindow: 100, Handle: protocol.Some(handle), DeliveryCount: protocol.Some[uint32](0),
			LinkCredit: protocol.Some[uint32](10)}
	}
	c.send(0, flow(3))
	// The session still answers: an echo flow without a handle comes back.
	c.send(0, &protocol.Flow{NextIncomingID: protocol.Some[uint32](0), IncomingWindow: 100, OutgoingWindow: 100, Echo: true})
	echo := expectFrame[*protocol.Flow](c)
	assert.False(t, echo.Handle.Set)

	c.send(0, flow(9)) // never attached
	end := expectFrame[*protocol.End](c)
	require.NotNil(t, end.Error)
	assert.Equal(t, protocol.ErrUnattachedHandle, end.Error.Condition)
	assertBrokerServes(t, b)
}
