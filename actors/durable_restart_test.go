package actors

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/supervision"
)

// startOnDiskWindow runs a broker on dir whose durable queues keep window ready messages in memory;
// stop shuts it down (also at the test's end, if it has not been called).
func startOnDiskWindow(t *testing.T, dir string, window int) (*Broker, func()) {
	t.Helper()
	return startStoppable(t, Options{AMQPAddr: "127.0.0.1:0", Logger: testLogger(), DataDir: dir,
		Limits: Limits{QueueMemoryMessages: window}})
}

// startStoppable starts a broker and returns it with a stop that shuts it down once (a test may
// stop it to restart on the same data directory; the cleanup stops it otherwise).
func startStoppable(t *testing.T, o Options) (*Broker, func()) {
	t.Helper()
	b, err := NewBroker(o)
	require.NoError(t, err)
	require.NoError(t, b.Start())
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			require.NoError(t, b.Shutdown(ctx))
		}
	}
	t.Cleanup(stop)
	return b, stop
}

// storedMsg is one durable message of a queue: its seq (qid), body and delivery-count.
type storedMsg struct {
	Seq  uint64
	Body string
	DC   uint32
}

// bodyOf is a message's data section (it may run on an actor's goroutine: no t).
func bodyOf(m *message) string {
	var am amqp.Message
	if err := am.UnmarshalBinary(m.raw); err != nil {
		return "unparsable: " + err.Error()
	}
	return string(am.GetData())
}

// storedOf is what the store holds for a queue of the default vhost, in seq order.
func storedOf(t *testing.T, b *Broker, queue string) []storedMsg {
	t.Helper()
	var out []storedMsg
	var derr error
	require.NoError(t, b.store.Scan("/\x00"+queue, 0, 0, func(seq uint64, data []byte, dc uint32) bool {
		m, err := decodeStored(data)
		if err != nil {
			derr = err
			return false
		}
		out = append(out, storedMsg{seq, bodyOf(m), dc})
		return true
	}))
	require.NoError(t, derr)
	return out
}

// queueView is a queue's state as its actor holds it (read on the queue's goroutine).
type queueView struct {
	Ready    []string    // bodies of the ready messages in memory, in queue order (durable and transient)
	Stored   []storedMsg // the durable entries in memory, ready and unacked, in seq order
	Unacked  int
	Paged    int    // durable ready messages on disk only
	DiskNext uint64 // the first paged seq (meaningful while Paged > 0)
	Pending  int    // paged writes in flight
	Tail     int
}

func viewOf(t *testing.T, b *Broker, name string) queueView {
	t.Helper()
	res, err := b.system.Root.RequestFuture(b.queuePID(t, name), &inspect{fn: func(a any) any {
		q := a.(*queue)
		v := queueView{Unacked: len(q.unacked), Paged: q.paged, DiskNext: q.diskNext, Pending: q.pagedPending, Tail: len(q.tail)}
		for _, e := range q.ready[q.head:] {
			v.Ready = append(v.Ready, bodyOf(e.msg))
			if e.stored {
				v.Stored = append(v.Stored, storedMsg{e.qid, bodyOf(e.msg), e.deliveryCount})
			}
		}
		for _, u := range q.unacked {
			if u.e.stored {
				v.Stored = append(v.Stored, storedMsg{u.e.qid, bodyOf(u.e.msg), u.e.deliveryCount})
			}
		}
		slices.SortFunc(v.Stored, func(a, b storedMsg) int { return cmp.Compare(a.Seq, b.Seq) })
		return v
	}}, 5*time.Second).Result()
	require.NoError(t, err)
	return res.(queueView)
}

// matchesStore reports whether the queue's durable state is exactly what the store holds: every
// durable entry in memory (ready or unacked) is stored with its delivery-count, and the rest of the
// store is the paged-out part, as many as the queue counts.
func matchesStore(v queueView, stored []storedMsg) (bool, string) {
	var inMem, onDisk []storedMsg
	for _, m := range stored {
		if v.Paged > 0 && m.Seq >= v.DiskNext {
			onDisk = append(onDisk, m)
		} else {
			inMem = append(inMem, m)
		}
	}
	if v.Pending != 0 {
		return false, fmt.Sprintf("%d writes in flight", v.Pending)
	}
	if !slices.Equal(inMem, v.Stored) {
		return false, fmt.Sprintf("in memory %v, stored %v", v.Stored, inMem)
	}
	if len(onDisk) != v.Paged {
		return false, fmt.Sprintf("%d paged, %d stored past seq %d", v.Paged, len(onDisk), v.DiskNext)
	}
	return true, ""
}

// requireMatchesStore waits until the queue has unacked deliveries and its durable state equals the
// store's, and returns its view.
func requireMatchesStore(t *testing.T, b *Broker, queue string, unacked int) queueView {
	t.Helper()
	var v queueView
	why := "never checked"
	require.Eventually(t, func() bool {
		v = viewOf(t, b, queue)
		if v.Unacked != unacked {
			why = fmt.Sprintf("%d unacked deliveries, want %d", v.Unacked, unacked)
			return false
		}
		var ok bool
		ok, why = matchesStore(v, storedOf(t, b, queue))
		return ok
	}, 10*time.Second, 20*time.Millisecond, "the queue's durable state equals the store's")
	require.Equal(t, "", why)
	return v
}

// requireQueueEmpty waits until a queue holds nothing, in memory or on disk. (assertQueue(t, s, q) with
// no bodies cannot tell: go-amqp folds the credit it issues into the drain that follows, which then
// asks for nothing — creditor.FlowBits sends link-credit 0 with drain.)
func requireQueueEmpty(t *testing.T, b *Broker, queue string) {
	t.Helper()
	var v queueView
	var stored []storedMsg
	empty := func() bool {
		v, stored = viewOf(t, b, queue), storedOf(t, b, queue)
		return len(v.Ready) == 0 && v.Unacked == 0 && v.Paged == 0 && v.Tail == 0 && len(stored) == 0
	}
	deadline := time.Now().Add(5 * time.Second)
	for !empty() {
		if time.Now().After(deadline) {
			t.Fatalf("queue %s is not empty: %+v, stored %v", queue, v, stored)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A durable queue restarted by its supervisor (DESIGN.md §1) comes back with exactly what the store
// holds: its ready messages in order with their delivery-counts, its paged-out part, and the
// deliveries its consumer still holds; the settlement it panicked on is applied after the restart and
// the publish it panicked on is refused and stored nowhere. (Its producer hands back the same
// instance, so nothing needs reading back; a transient queue keeps its messages the same way and loses
// only the publish batch it was handling — TestQueuePanicRestartLosesNoAcceptedMessage.)
func TestDurableQueueSupervisorRestartMatchesStore(t *testing.T) {
	f := supervision.NewFaults()
	b := startBroker(t, withFaults(f), func(o *Options) {
		o.DataDir = t.TempDir()
		o.Limits.QueueMemoryMessages = 20
	})
	s := newSess(t, dial(t, b, nil))
	snd := sender(t, s, "restartme", nil)
	var order []string // every message, in publish order
	for i := range 60 {
		body := fmt.Sprintf("m%02d", i)
		m := durableMsg(body)
		if i%10 == 5 {
			m = amqp.NewMessage([]byte(body)) // transient: kept in memory, in its place
		}
		require.Equal(t, &amqp.StateAccepted{}, sendMsg(t, snd, m))
		order = append(order, body)
	}
	r := receiver(t, s, "restartme", &amqp.ReceiverOptions{Credit: -1})
	require.NoError(t, r.IssueCredit(8))
	got := map[string]*amqp.Message{}
	for range 8 {
		m := recv(t, r)
		got[string(m.GetData())] = m
	}
	require.NoError(t, r.AcceptMessage(testCtx(t), got["m00"]))
	require.NoError(t, r.AcceptMessage(testCtx(t), got["m01"]))
	require.NoError(t, r.ReleaseMessage(testCtx(t), got["m02"]))
	require.NoError(t, r.ModifyMessage(testCtx(t), got["m03"], &amqp.ModifyMessageOptions{DeliveryFailed: true}))
	require.NoError(t, r.ModifyMessage(testCtx(t), got["m04"], &amqp.ModifyMessageOptions{DeliveryFailed: true}))
	// m05 (transient), m06 and m07 stay unsettled with the consumer.
	before := requireMatchesStore(t, b, "restartme", 3)
	require.Positive(t, before.Paged, "part of the queue is on disk only")

	restarts := b.restarts.Load()
	f.Inject(supervision.Queue, "q-restartme", "*actors.settleBatch", 1)
	require.NoError(t, r.AcceptMessage(testCtx(t), got["m06"])) // the queue panics on it
	require.Eventually(t, func() bool { return b.restarts.Load() == restarts+1 }, 5*time.Second, 10*time.Millisecond)
	f.Inject(supervision.Queue, "q-restartme", "*actors.enqueueBatch", 1)
	st := sendMsg(t, snd, durableMsg("refused"))
	rej, ok := st.(*amqp.StateRejected)
	require.True(t, ok, "the publish the queue panicked on is refused: %T", st)
	assert.Equal(t, amqp.ErrCond("amqp:internal-error"), rej.Error.Condition)
	require.Equal(t, restarts+2, b.restarts.Load())

	// m06's accept was applied after the restart; m05 and m07 are still held.
	after := requireMatchesStore(t, b, "restartme", 2)
	assert.Equal(t, before.Paged, after.Paged)
	for _, m := range storedOf(t, b, "restartme") {
		assert.NotEqual(t, "refused", m.Body)
		assert.NotEqual(t, "m06", m.Body)
	}
	wantReady := append([]string{"m02", "m03", "m04"}, order[8:]...)
	assert.Equal(t, wantReady[:len(after.Ready)], after.Ready, "the ready messages in memory, in order")

	require.NoError(t, r.IssueCredit(uint32(len(wantReady))))
	for _, want := range wantReady {
		m := recv(t, r)
		require.Equal(t, want, string(m.GetData()))
		switch want {
		case "m02":
			assert.Equal(t, uint32(0), m.Header.DeliveryCount, "released: delivery-count unchanged")
			assert.False(t, m.Header.FirstAcquirer)
		case "m03", "m04":
			assert.Equal(t, uint32(1), m.Header.DeliveryCount, "modified{delivery-failed}: +1")
			assert.False(t, m.Header.FirstAcquirer)
		default:
			assert.True(t, m.Header.FirstAcquirer, "%s was never delivered before", want)
		}
		require.NoError(t, r.AcceptMessage(testCtx(t), m))
	}
	require.NoError(t, r.AcceptMessage(testCtx(t), got["m05"]))
	require.NoError(t, r.AcceptMessage(testCtx(t), got["m07"]))
	require.Eventually(t, func() bool { return len(storedOf(t, b, "restartme")) == 0 }, 5*time.Second, 20*time.Millisecond,
		"every accepted message left the store")
	empty := requireMatchesStore(t, b, "restartme", 0)
	assert.Empty(t, empty.Ready)
}

// A durable queue that panics on the store's "written" report (storedBatch) still settles the
// producer's publish after its restart: protoactor drops the message a restarted actor failed on, so
// the vhost delivers it again (vhost_supervise.go, redeliver); without that the producer would wait
// for ever and q.pagedPending would never drop back.
func TestDurableQueueRestartRedeliversStoredBatch(t *testing.T) {
	f := supervision.NewFaults()
	b := startBroker(t, withFaults(f), func(o *Options) { o.DataDir = t.TempDir() })
	s := newSess(t, dial(t, b, nil))
	snd := sender(t, s, "confirmme", nil)
	require.Equal(t, &amqp.StateAccepted{}, sendMsg(t, snd, durableMsg("warm-up")))
	f.Inject(supervision.Queue, "q-confirmme", "*actors.storedBatch", 1)
	rc, err := snd.SendWithReceipt(testCtx(t), durableMsg("confirm me"), nil)
	require.NoError(t, err)
	done := make(chan amqp.DeliveryState, 1)
	go func() {
		st, _ := rc.Wait(testCtx(t))
		done <- st
	}()
	select {
	case st := <-done:
		assert.Equal(t, &amqp.StateAccepted{}, st, "the message is on disk and in the queue")
	case <-time.After(5 * time.Second):
		t.Fatal("the producer never heard of its durable publish after the queue restarted")
	}
	requireMatchesStore(t, b, "confirmme", 0)
	assertQueue(t, s, "confirmme", "warm-up", "confirm me")
}

// Recovery restores several interleaved durable queues, each in its original order, part of each
// from beyond its memory window, with released and modified messages back in their place.
func TestDurableRecoveryOrderAcrossQueues(t *testing.T) {
	dir := t.TempDir()
	start := func() (*Broker, func()) { return startOnDiskWindow(t, dir, 7) }
	queues := []string{"ro-a", "ro-b", "ro-c"}
	b, stop := start()
	c := dial(t, b, nil)
	s := newSess(t, c)
	senders := map[string]*amqp.Sender{}
	for _, q := range queues {
		senders[q] = sender(t, s, q, nil)
	}
	want := map[string][]storedMsg{} // what each queue must hold after the restart
	for i := range 90 {
		q := queues[i%3]
		body := fmt.Sprintf("%s-%02d", q, i/3)
		m := durableMsg(body)
		if i%7 == 0 {
			m = amqp.NewMessage([]byte(body)) // transient: gone after the restart
		} else {
			want[q] = append(want[q], storedMsg{Body: body})
		}
		require.Equal(t, &amqp.StateAccepted{}, sendMsg(t, senders[q], m))
	}
	// On ro-b: accept the first durable message, modify the second twice, release the third.
	r := receiver(t, s, "ro-b", &amqp.ReceiverOptions{Credit: -1})
	require.NoError(t, r.IssueCredit(3))
	var held []*amqp.Message
	for range 3 {
		m := recv(t, r)
		if m.Header == nil || !m.Header.Durable {
			require.NoError(t, r.AcceptMessage(testCtx(t), m)) // a transient one, first of ro-b
			require.NoError(t, r.IssueCredit(1))
			m = recv(t, r)
		}
		held = append(held, m)
	}
	require.Equal(t, want["ro-b"][0].Body, string(held[0].GetData()))
	require.NoError(t, r.AcceptMessage(testCtx(t), held[0]))
	require.NoError(t, r.ModifyMessage(testCtx(t), held[1], &amqp.ModifyMessageOptions{DeliveryFailed: true}))
	require.NoError(t, r.IssueCredit(1))
	again := recv(t, r)
	require.Equal(t, string(held[1].GetData()), string(again.GetData()))
	require.NoError(t, r.ModifyMessage(testCtx(t), again, &amqp.ModifyMessageOptions{DeliveryFailed: true}))
	require.NoError(t, r.ReleaseMessage(testCtx(t), held[2]))
	want["ro-b"] = want["ro-b"][1:]
	want["ro-b"][0].DC = 2
	require.Eventually(t, func() bool {
		st := storedOf(t, b, "ro-b")
		return len(st) == len(want["ro-b"]) && st[0].DC == 2
	}, 5*time.Second, 20*time.Millisecond, "the accept and both modifies are on disk")
	require.NoError(t, c.Close())
	stop()

	b, stop = start()
	defer stop()
	s = newSess(t, dial(t, b, nil))
	for _, q := range queues {
		mem, paged := inMemory(t, b, q)
		assert.LessOrEqual(t, mem, 7, "%s: only the window is read back", q)
		assert.Positive(t, paged, "%s: the rest waits on disk", q)
		r := receiver(t, s, "/queues/"+q, &amqp.ReceiverOptions{Credit: -1}) // by hand: no top-up races the detach
		require.NoError(t, r.IssueCredit(uint32(len(want[q]))))
		for _, w := range want[q] {
			m := recv(t, r)
			require.Equal(t, w.Body, string(m.GetData()), "%s: original order", q)
			assert.Equal(t, w.DC, m.Header.DeliveryCount, "%s: delivery-count of %s", q, w.Body)
			assert.False(t, m.Header.FirstAcquirer, "%s: %s was recovered", q, w.Body)
			require.NoError(t, r.AcceptMessage(testCtx(t), m))
		}
		require.NoError(t, r.Close(testCtx(t)))
		requireQueueEmpty(t, b, q)
	}
}

// Released deliveries and those of a connection that goes away return to a durable queue in their
// original order, ahead of the paged-out rest; modified{delivery-failed} updates the stored
// delivery-count; after a restart the order and counts are the same.
func TestDurableReleasedAndConnectionLostBackInOrder(t *testing.T) {
	dir := t.TempDir()
	start := func() (*Broker, func()) { return startOnDiskWindow(t, dir, 5) }
	b, stop := start()
	s := newSess(t, dial(t, b, nil))
	snd := sender(t, s, "back", nil)
	var all []string
	for i := range 20 {
		all = append(all, fmt.Sprintf("b%02d", i))
		require.Equal(t, &amqp.StateAccepted{}, sendMsg(t, snd, durableMsg(all[i])))
	}
	lost := dial(t, b, nil)
	r := receiver(t, newSess(t, lost), "back", &amqp.ReceiverOptions{Credit: -1})
	require.NoError(t, r.IssueCredit(9))
	got := map[string]*amqp.Message{}
	for range 9 {
		m := recv(t, r)
		got[string(m.GetData())] = m
	}
	require.NoError(t, r.AcceptMessage(testCtx(t), got["b00"]))
	for range 3 { // b04 fails three times: delivery-count 3, on disk too
		require.NoError(t, r.ModifyMessage(testCtx(t), got["b04"], &amqp.ModifyMessageOptions{DeliveryFailed: true}))
		require.NoError(t, r.IssueCredit(1))
		got["b04"] = recv(t, r)
		require.Equal(t, "b04", string(got["b04"].GetData()), "a modified message returns to the head")
	}
	for _, body := range []string{"b07", "b02", "b05"} { // released out of order
		require.NoError(t, r.ReleaseMessage(testCtx(t), got[body]))
	}
	wantDC := map[string]uint32{"b04": 3}
	require.Eventually(t, func() bool {
		for _, m := range storedOf(t, b, "back") {
			if m.Body == "b04" {
				return m.DC == 3
			}
		}
		return false
	}, 5*time.Second, 20*time.Millisecond, "the stored delivery-count of b04 is 3")
	// b01, b03, b04, b06 and b08 are still unsettled when the connection goes away.
	require.NoError(t, lost.Close())
	rest := all[1:]
	requireMatchesStore(t, b, "back", 0)

	check := func(b *Broker, recovered bool) {
		c := dial(t, b, nil)
		r := receiver(t, newSess(t, c), "back", &amqp.ReceiverOptions{Credit: int32(len(rest))})
		for _, want := range rest {
			m := recv(t, r)
			require.Equal(t, want, string(m.GetData()), "original order")
			assert.Equal(t, wantDC[want], m.Header.DeliveryCount, "delivery-count of %s", want)
			delivered := want <= "b08"
			assert.Equal(t, !delivered && !recovered, m.Header.FirstAcquirer, "first-acquirer of %s", want)
		}
		require.NoError(t, c.Close()) // all of them go back, for the restart
		requireMatchesStore(t, b, "back", 0)
	}
	check(b, false)
	stop()
	b, _ = start()
	check(b, true)
}

// Once a recovered queue's backlog has been read back from disk, messages paged out later were never
// delivered: they carry first-acquirer=true.
func TestDurablePagedAfterRecoveredBacklogAreFirstAcquired(t *testing.T) {
	dir := t.TempDir()
	b, stop := startOnDiskWindow(t, dir, 5)
	snd := sender(t, newSess(t, dial(t, b, nil)), "again", nil)
	for i := range 12 {
		require.Equal(t, &amqp.StateAccepted{}, sendMsg(t, snd, durableMsg(fmt.Sprint("old-", i))))
	}
	stop()
	b, _ = startOnDiskWindow(t, dir, 5)
	s := newSess(t, dial(t, b, nil))
	r := receiver(t, s, "again", &amqp.ReceiverOptions{Credit: -1}) // by hand: no top-up races the detach
	require.NoError(t, r.IssueCredit(12))
	for i := range 12 {
		m := recv(t, r)
		require.Equal(t, fmt.Sprint("old-", i), string(m.GetData()))
		assert.False(t, m.Header.FirstAcquirer, "recovered")
		require.NoError(t, r.AcceptMessage(testCtx(t), m))
	}
	require.NoError(t, r.Close(testCtx(t)))
	requireMatchesStore(t, b, "again", 0)
	snd = sender(t, s, "again", nil)
	for i := range 12 {
		require.Equal(t, &amqp.StateAccepted{}, sendMsg(t, snd, durableMsg(fmt.Sprint("new-", i))))
	}
	_, paged := inMemory(t, b, "again")
	require.Positive(t, paged, "the new messages are paged out too")
	r = receiver(t, s, "again", &amqp.ReceiverOptions{Credit: 12})
	for i := range 12 {
		m := recv(t, r)
		require.Equal(t, fmt.Sprint("new-", i), string(m.GetData()))
		assert.True(t, m.Header.FirstAcquirer, "new-%d was never delivered", i)
		require.NoError(t, r.AcceptMessage(testCtx(t), m))
	}
}
