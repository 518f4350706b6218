package actors

import (
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startOnDisk runs a broker on dir; stop shuts it down (the test restarts on the same dir).
func startOnDisk(t *testing.T, dir string) (*Broker, func()) {
	t.Helper()
	return startStoppable(t, Options{AMQPAddr: "127.0.0.1:0", Logger: testLogger(), DataDir: dir})
}

func durableMsg(body string) *amqp.Message {
	return &amqp.Message{Data: [][]byte{[]byte(body)}, Header: &amqp.MessageHeader{Durable: true}}
}

func TestDurableMessagesSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	b, stop := startOnDisk(t, dir)
	c := dial(t, b, nil)
	s := newSess(t, c)
	snd := sender(t, s, "orders", nil) // a bare name: a durable queue
	for i := range 5 {
		require.Equal(t, &amqp.StateAccepted{}, sendMsg(t, snd, durableMsg(fmt.Sprint(i))))
	}
	require.Equal(t, &amqp.StateAccepted{}, sendMsg(t, snd, amqp.NewMessage([]byte("transient"))))
	r := receiver(t, s, "orders", &amqp.ReceiverOptions{Credit: -1})
	require.NoError(t, r.IssueCredit(2))
	m0 := recv(t, r)
	require.NoError(t, r.AcceptMessage(testCtx(t), m0)) // "0" is gone for good
	m1 := recv(t, r)
	require.NoError(t, r.ModifyMessage(testCtx(t), m1, &amqp.ModifyMessageOptions{DeliveryFailed: true})) // "1": count 1
	require.NoError(t, r.IssueCredit(1))                                                                  // back at the head: the next delivery
	again := recv(t, r)                                                                                   // the queue has applied it
	require.Equal(t, "1", string(again.GetData()))
	require.Equal(t, uint32(1), again.Header.DeliveryCount)
	require.NoError(t, c.Close())
	stop()

	b2, _ := startOnDisk(t, dir)
	s2 := newSess(t, dial(t, b2, nil))
	r2 := receiver(t, s2, "/queues/orders", &amqp.ReceiverOptions{Credit: 10})
	for _, want := range []struct {
		body  string
		count uint32
	}{{"1", 1}, {"2", 0}, {"3", 0}, {"4", 0}} {
		m := recv(t, r2)
		assert.Equal(t, want.body, string(m.GetData()), "original order")
		assert.Equal(t, want.count, m.Header.DeliveryCount, "delivery-count of %s", want.body)
		assert.False(t, m.Header.FirstAcquirer, "a recovered message may have been delivered before")
		require.NoError(t, r2.AcceptMessage(testCtx(t), m))
	}
	require.NoError(t, r2.Close(testCtx(t)))
	requireQueueEmpty(t, b2, "orders") // the transient message did not survive; the accepted ones are gone
}

func TestDurableTopologySurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	b, stop := startOnDisk(t, dir)
	c := dial(t, b, nil)
	mc := newMgmtClient(t, newSess(t, c))
	st, _ := mc.call("PUT", "/exchanges/events", map[string]any{"type": "topic", "durable": true})
	require.Equal(t, 204, st)
	st, _ = mc.call("PUT", "/queues/audit", map[string]any{"durable": true, "arguments": map[string]any{"x-max-length": int64(100)}})
	require.Equal(t, 201, st)
	st, _ = mc.call("PUT", "/queues/scratch", map[string]any{"durable": false})
	require.Equal(t, 201, st)
	st, _ = mc.call("POST", "/bindings", map[string]any{"source": "events", "destination_queue": "audit", "binding_key": "order.#"})
	require.Equal(t, 204, st)
	require.NoError(t, c.Close())
	stop()

	b2, _ := startOnDisk(t, dir)
	s2 := newSess(t, dial(t, b2, nil))
	mc2 := newMgmtClient(t, newSess(t, dial(t, b2, nil)))
	st, body := mc2.call("GET", "/queues/audit", nil)
	require.Equal(t, 200, st)
	assert.Equal(t, true, field(t, body, "durable"))
	st, _ = mc2.call("GET", "/queues/scratch", nil)
	assert.Equal(t, 404, st, "a transient queue does not survive")
	require.Equal(t, &amqp.StateAccepted{}, sendMsg(t, sender(t, s2, "/exchanges/events/order.paid", nil), durableMsg("routed after restart")))
	assertQueue(t, s2, "audit", "routed after restart")
}

// A full disk (injected): durable publishes are rejected with amqp:resource-limit-exceeded, consumers
// keep being served, the broker stays up; once the disk works again publishing resumes.
func TestDiskFullRejectsDurablePublishes(t *testing.T) {
	var full atomic.Bool
	fs := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if !full.Load() {
			return nil
		}
		switch op.Kind {
		case errorfs.OpFileWrite, errorfs.OpFileWriteAt, errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo:
			return fmt.Errorf("injected: %s: %w", op.Path, syscall.ENOSPC)
		}
		return nil
	}))
	b := startBroker(t, func(o *Options) { o.DataDir = t.TempDir(); o.storeFS = fs })
	s := newSess(t, dial(t, b, nil))
	snd := sender(t, s, "disk", nil)
	require.Equal(t, &amqp.StateAccepted{}, sendMsg(t, snd, durableMsg("before")))

	full.Store(true)
	st := sendMsg(t, snd, durableMsg("while full"))
	rej, ok := st.(*amqp.StateRejected)
	require.True(t, ok, "got %T", st)
	assert.Equal(t, amqp.ErrCond("amqp:resource-limit-exceeded"), rej.Error.Condition)
	assert.Contains(t, rej.Error.Description, "disk is full")
	r := receiver(t, s, "disk", &amqp.ReceiverOptions{Credit: 1})
	m := recv(t, r)
	assert.Equal(t, "before", string(m.GetData()), "consumers keep being served")
	require.NoError(t, r.AcceptMessage(testCtx(t), m))

	full.Store(false)
	require.Eventually(t, func() bool {
		_, ok := sendMsg(t, snd, durableMsg("after")).(*amqp.StateAccepted)
		return ok
	}, 10*time.Second, 50*time.Millisecond, "publishing resumes once the disk works again")
	m = recv(t, r)
	assert.Equal(t, "after", string(m.GetData()), "the refused message was never delivered")
	require.NoError(t, r.AcceptMessage(testCtx(t), m))
}

// inMemory is how many ready messages a queue holds in RAM (read on the queue's goroutine).
func inMemory(t *testing.T, b *Broker, name string) (mem, paged int) {
	t.Helper()
	res, err := b.system.Root.RequestFuture(b.queuePID(t, name), &inspect{fn: func(a any) any {
		q := a.(*queue)
		return [2]int{len(q.ready) - q.head, q.paged}
	}}, 5*time.Second).Result()
	require.NoError(t, err)
	r := res.([2]int)
	return r[0], r[1]
}

func (b *Broker) queuePID(t *testing.T, name string) *actor.PID {
	t.Helper()
	res, err := b.system.Root.RequestFuture(b.vhosts["/"], &inspect{fn: func(a any) any { return a.(*vhost).queues[name].pid }}, 5*time.Second).Result()
	require.NoError(t, err)
	return res.(*actor.PID)
}

// A durable queue larger than its memory window keeps the rest on disk and delivers everything in
// order; so does it after a restart, again holding only the window in memory.
func TestQueueLargerThanMemory(t *testing.T) {
	dir := t.TempDir()
	start := func() (*Broker, func()) { return startOnDiskWindow(t, dir, 50) }
	b, stop := start()
	c := dial(t, b, nil)
	s := newSess(t, c)
	snd := sender(t, s, "big", nil)
	const n = 400
	for i := range n {
		m := durableMsg(fmt.Sprint(i))
		if i%100 == 50 {
			m = amqp.NewMessage([]byte(fmt.Sprint(i))) // transient ones in between keep their place
		}
		require.NoError(t, snd.Send(testCtx(t), m, nil))
	}
	mem, paged := inMemory(t, b, "big")
	// The window bounds durable messages; a transient one cannot go to disk and may add to it (4 here).
	assert.LessOrEqual(t, mem, 50+4, "only the window is in memory")
	assert.Greater(t, paged, 300, "the rest is on disk")

	// Credit by hand, 30 at a time: go-amqp's automatic top-ups can race its own detach
	// (a flow on a handle the broker has already detached ends the session).
	r := receiver(t, s, "big", &amqp.ReceiverOptions{Credit: -1})
	for i := range 200 {
		if i%30 == 0 {
			require.NoError(t, r.IssueCredit(30))
		}
		m := recv(t, r)
		require.Equal(t, fmt.Sprint(i), string(m.GetData()), "in order across the window")
		require.NoError(t, r.AcceptMessage(testCtx(t), m))
	}
	// The accepts are fire-and-forget (rcv-settle-mode first): wait until the queue has them all, or a
	// detach that overtakes the last ones returns those messages to the queue (at-least-once).
	require.Eventually(t, func() bool {
		st := storedOf(t, b, "big")
		return len(st) > 0 && st[0].Body == "200"
	}, 5*time.Second, 10*time.Millisecond, "the 200 accepts are applied")
	require.NoError(t, r.Close(testCtx(t)))
	require.NoError(t, c.Close())
	stop()

	// After a restart: 200 durable messages left (the transient 250 and 350 are gone), window again.
	b, stop = start()
	defer stop()
	s = newSess(t, dial(t, b, nil))
	r = receiver(t, s, "/queues/big", &amqp.ReceiverOptions{Credit: 30})
	first := recv(t, r)
	mem, paged = inMemory(t, b, "big")
	assert.LessOrEqual(t, mem, 50)
	assert.Positive(t, paged)
	require.Equal(t, "200", string(first.GetData()))
	require.NoError(t, r.AcceptMessage(testCtx(t), first))
	for i := 201; i < n; i++ {
		if i%100 == 50 {
			continue
		}
		m := recv(t, r)
		require.Equal(t, fmt.Sprint(i), string(m.GetData()))
		require.NoError(t, r.AcceptMessage(testCtx(t), m))
	}
}
