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
