package actors

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/protocol"
)

// A message's embedded queue entry goes to exactly one queue, even when fanout hands the message to
// several queue actors at once; the others get entries of their own. A rerouted copy is in no queue.
func TestMessageEntryClaimedOnce(t *testing.T) {
	raw := protocol.AppendDataSection(nil, []byte("x"))
	var pm protocol.Message
	require.NoError(t, protocol.ParseMessage(raw, &pm))
	msg := newMessage(raw, &pm, "amq.fanout", "", time.Now(), nil)

	const queues = 8
	got := make([]*qentry, queues)
	var wg sync.WaitGroup
	for i := range queues {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := msg.newEntry()
			*e = qentry{qid: uint64(i + 1), msg: msg}
			got[i] = e
		}()
	}
	wg.Wait()
	embedded := 0
	distinct := map[*qentry]bool{}
	for i, e := range got {
		distinct[e] = true
		assert.Equal(t, uint64(i+1), e.qid, "each queue keeps what it wrote")
		if e == &msg.entry {
			embedded++
		}
	}
	assert.Equal(t, 1, embedded)
	assert.Len(t, distinct, queues)

	c := msg.rerouted("amq.direct", "k", nil)
	assert.Equal(t, qentry{}, c.entry)
	assert.Same(t, &c.entry, c.newEntry())
	assert.NotSame(t, &msg.entry, &c.entry)
}

// An extension may reroute a message that a queue already holds (the relay's copy of an extension's
// message): rerouting must not touch the entry that queue's actor is writing. Run under -race.
func TestMessageReroutedWhileQueued(t *testing.T) {
	raw := protocol.AppendDataSection(nil, []byte("x"))
	var pm protocol.Message
	require.NoError(t, protocol.ParseMessage(raw, &pm))
	for range 100 {
		msg := newMessage(raw, &pm, "amq.fanout", "", time.Now(), nil)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { // the queue actor that holds msg
			defer wg.Done()
			e := msg.newEntry()
			*e = qentry{qid: 1, msg: msg}
		}()
		var c *message
		go func() { // the vhost rerouting it
			defer wg.Done()
			c = msg.rerouted("amq.direct", "k", nil)
		}()
		wg.Wait()
		assert.Equal(t, "amq.direct", c.exchange)
		assert.Equal(t, qentry{}, c.entry, "the copy is in no queue")
		assert.Equal(t, uint64(1), msg.entry.qid, "the original keeps its queue's entry")
	}
}
