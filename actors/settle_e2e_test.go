package actors

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/protocol"
)

// One disposition range may cover deliveries of several links of a session (spec 2.7.6: dispositions
// are per session, by delivery id). Two consumer links on one queue, one accepted range over both
// links' deliveries: each delivery is settled for its own link, so the queue is left empty.
func TestRawDispositionRangeOverTwoLinksOfOneQueue(t *testing.T) {
	b := startBroker(t)
	snd := sender(t, newSess(t, dial(t, b, nil)), "range-q", nil) // declares the queue
	c, _ := rawOpen(t, b, nil)
	c.begin(0)
	for h := uint32(0); h < 2; h++ {
		c.send(0, &protocol.Attach{Name: "range-" + string(rune('a'+h)), Handle: h, Role: protocol.RoleReceiver,
			Source: &protocol.Source{Address: protocol.Some("/queues/range-q")}, Target: &protocol.Target{}})
		expectFrame[*protocol.Attach](c)
	}
	send(t, snd, "m0")
	send(t, snd, "m1")
	ids := map[uint32]uint32{} // delivery id → handle
	for h := uint32(0); h < 2; h++ {
		c.send(0, &protocol.Flow{NextIncomingID: protocol.Some[uint32](0), IncomingWindow: 100, OutgoingWindow: 100,
			Handle: protocol.Some(h), DeliveryCount: protocol.Some[uint32](0), LinkCredit: protocol.Some[uint32](1)})
		tr := expectFrame[*protocol.Transfer](c)
		require.Equal(t, h, tr.Handle, "one message per link")
		ids[tr.DeliveryID.V] = tr.Handle
	}
	require.Len(t, ids, 2)
	c.send(0, &protocol.Disposition{Role: protocol.RoleReceiver, First: 0, Last: protocol.Some[uint32](1), Settled: true,
		State: &protocol.Accepted{}})

	require.Eventually(t, func() bool {
		res, err := b.system.Root.RequestFuture(b.queuePID(t, "range-q"), &inspect{fn: func(a any) any {
			q := a.(*queue)
			return q.length() + len(q.unacked)
		}}, 5*time.Second).Result()
		return err == nil && res.(int) == 0
	}, 5*time.Second, 10*time.Millisecond, "both deliveries were settled")
	assertBrokerServes(t, b)
}
