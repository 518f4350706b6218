package actors

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOutcomes(t *testing.T) {
	b := startBroker(t, withTopology)
	s := newSess(t, dial(t, b, nil))
	snd := sender(t, s, "/queues/rejects", nil)
	send(t, snd, "m")
	r := receiver(t, s, "/queues/rejects", &amqp.ReceiverOptions{Credit: 1})

	// released: back at the head, delivery-count unchanged, first-acquirer false from now on.
	m := recv(t, r)
	assert.Equal(t, uint32(0), m.Header.DeliveryCount)
	assert.True(t, m.Header.FirstAcquirer, "first delivery")
	require.NoError(t, r.ReleaseMessage(testCtx(t), m))
	m = recv(t, r)
	assert.Equal(t, uint32(0), m.Header.DeliveryCount)
	assert.False(t, m.Header.FirstAcquirer)

	// modified{delivery-failed}: back with delivery-count+1.
	require.NoError(t, r.ModifyMessage(testCtx(t), m, &amqp.ModifyMessageOptions{DeliveryFailed: true}))
	m = recv(t, r)
	assert.Equal(t, uint32(1), m.Header.DeliveryCount)

	// rejected: dead-lettered to the queue's DLX.
	require.NoError(t, r.RejectMessage(testCtx(t), m, nil))
	dl := receiver(t, s, "/queues/dead", nil)
	d := recv(t, dl)
	require.NoError(t, dl.AcceptMessage(testCtx(t), d))
	assert.Equal(t, "m", string(d.GetData()))
	assert.Equal(t, "rejected", d.Annotations["x-first-death-reason"])
	assert.Equal(t, uint32(1), d.Header.DeliveryCount)

	// modified{undeliverable-here} dead-letters too.
	send(t, snd, "u")
	m = recv(t, r)
	require.NoError(t, r.ModifyMessage(testCtx(t), m, &amqp.ModifyMessageOptions{UndeliverableHere: true}))
	d = recv(t, dl)
	require.NoError(t, dl.AcceptMessage(testCtx(t), d))
	assert.Equal(t, "u", string(d.GetData()))

	// accepted removes it: nothing is left in either queue.
	assertQueue(t, s, "rejects")
	assertQueue(t, s, "dead")
}

func TestPresettledBothWays(t *testing.T) {
	b := startBroker(t)
	s := newSess(t, dial(t, b, nil))
	snd := sender(t, s, "presettled", &amqp.SenderOptions{SettlementMode: amqp.SenderSettleModeSettled.Ptr()})
	for i := range 50 {
		send(t, snd, fmt.Sprint(i))
	}
	r := receiver(t, s, "presettled", &amqp.ReceiverOptions{RequestedSenderSettleMode: amqp.SenderSettleModeSettled.Ptr()})
	for i := range 50 {
		m := recv(t, r)
		assert.Equal(t, fmt.Sprint(i), string(m.GetData()), "FIFO order")
	}
	require.NoError(t, r.Close(testCtx(t)))
	assertQueue(t, s, "presettled") // at-most-once: delivered means gone
}

func TestReceiverSettleModeSecond(t *testing.T) {
	b := startBroker(t)
	s := newSess(t, dial(t, b, nil))
	// Producer side: the broker's disposition is unsettled; go-amqp then settles; Send returns.
	snd := sender(t, s, "second", &amqp.SenderOptions{RequestedReceiverSettleMode: amqp.ReceiverSettleModeSecond.Ptr()})
	send(t, snd, "exactly-once")
	// Consumer side: AcceptMessage waits for the broker's settlement (spec 2.6.12).
	r := receiver(t, s, "second", &amqp.ReceiverOptions{SettlementMode: amqp.ReceiverSettleModeSecond.Ptr()})
	m := recv(t, r)
	require.NoError(t, r.AcceptMessage(testCtx(t), m))
	assert.Equal(t, "exactly-once", string(m.GetData()))
	assertQueue(t, s, "second")
}

func TestCreditAndDrain(t *testing.T) {
	b := startBroker(t)
	s := newSess(t, dial(t, b, nil))
	snd := sender(t, s, "credit", nil)
	for i := range 5 {
		send(t, snd, fmt.Sprint(i))
	}
	r := receiver(t, s, "credit", &amqp.ReceiverOptions{Credit: -1})
	require.NoError(t, r.IssueCredit(3))
	for i := range 3 {
		m := recv(t, r)
		assert.Equal(t, fmt.Sprint(i), string(m.GetData()))
		require.NoError(t, r.AcceptMessage(testCtx(t), m))
	}
	// The credit is used up: a drain completes with nothing more delivered.
	require.NoError(t, r.DrainCredit(testCtx(t), nil))
	assert.Nil(t, r.Prefetched(), "no delivery beyond the granted credit")
	// Drain with credit left over and an empty queue advances the delivery-count (spec 2.6.7).
	require.NoError(t, r.IssueCredit(10))
	for i := 3; i < 5; i++ {
		m := recv(t, r)
		assert.Equal(t, fmt.Sprint(i), string(m.GetData()))
		require.NoError(t, r.AcceptMessage(testCtx(t), m))
	}
	require.NoError(t, r.DrainCredit(testCtx(t), nil))
	assert.Nil(t, r.Prefetched())
	// After the drain, new credit works again.
	send(t, snd, "after-drain")
	require.NoError(t, r.IssueCredit(1))
	m := recv(t, r)
	assert.Equal(t, "after-drain", string(m.GetData()))
	require.NoError(t, r.AcceptMessage(testCtx(t), m))
}

func TestLargeMessageOverSmallFrames(t *testing.T) {
	b := startBroker(t, func(o *Options) { o.Limits.MaxFrameSize = 512 })
	s := newSess(t, dial(t, b, &amqp.ConnOptions{MaxFrameSize: 512}))
	body := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	snd := sender(t, s, "big", nil)
	require.NoError(t, snd.Send(testCtx(t), amqp.NewMessage(body), nil))
	r := receiver(t, s, "big", nil)
	m := recv(t, r)
	require.NoError(t, r.AcceptMessage(testCtx(t), m))
	assert.True(t, bytes.Equal(body, m.GetData()), "1 MiB body intact across ~2000 frames each way")
}

func TestMaxMessageSize(t *testing.T) {
	b := startBroker(t, func(o *Options) { o.Limits.MaxMessageSize = 1024 })
	s := newSess(t, dial(t, b, nil))
	snd := sender(t, s, "small", nil)
	assert.Equal(t, uint64(1024), snd.MaxMessageSize())
	send(t, snd, "fits")
	// go-amqp enforces the advertised limit itself; the broker's own enforcement (detach with
	// amqp:link:message-size-exceeded) is TestRawMessageSizeExceeded. Here: the client sees the limit and
	// the link keeps working.
	err := snd.Send(testCtx(t), amqp.NewMessage(make([]byte, 4096)), nil)
	require.Error(t, err)
	send(t, snd, "still-fits")
	assertQueue(t, s, "small", "fits", "still-fits")
}

func TestManyLinksOverManySessions(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b, nil)
	type pair struct {
		snd *amqp.Sender
		rcv *amqp.Receiver
		q   string
	}
	var pairs []pair
	for si := range 20 {
		s := newSess(t, c)
		for li := range 5 { // 20 sessions × (5 senders + 5 receivers) = 200 links
			q := fmt.Sprintf("many-%d-%d", si, li)
			pairs = append(pairs, pair{snd: sender(t, s, q, nil), rcv: receiver(t, s, q, nil), q: q})
		}
	}
	var wg sync.WaitGroup
	for _, p := range pairs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, p.snd.Send(testCtx(t), amqp.NewMessage([]byte(p.q)), nil))
			m, err := p.rcv.Receive(testCtx(t), nil)
			if assert.NoError(t, err) {
				assert.Equal(t, p.q, string(m.GetData()))
				assert.NoError(t, p.rcv.AcceptMessage(testCtx(t), m))
			}
		}()
	}
	wg.Wait()
}

func TestCompetingConsumers(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b, nil)
	s := newSess(t, c)
	const n = 200
	r1 := receiver(t, newSess(t, c), "work", &amqp.ReceiverOptions{Credit: 10})
	r2 := receiver(t, newSess(t, c), "work", &amqp.ReceiverOptions{Credit: 10})
	snd := sender(t, s, "work", nil)
	for i := range n {
		send(t, snd, fmt.Sprint(i))
	}
	var mu sync.Mutex
	seen := map[string]int{}
	counts := [2]int{}
	var wg sync.WaitGroup
	done := make(chan struct{})
	for i, r := range []*amqp.Receiver{r1, r2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				m, err := r.Receive(testCtx(t), nil)
				if err != nil {
					return
				}
				assert.NoError(t, r.AcceptMessage(testCtx(t), m))
				mu.Lock()
				seen[string(m.GetData())]++
				counts[i]++
				if len(seen) == n {
					close(done)
				}
				mu.Unlock()
			}
		}()
	}
	<-done
	require.NoError(t, r1.Close(testCtx(t)))
	require.NoError(t, r2.Close(testCtx(t)))
	wg.Wait()
	assert.Len(t, seen, n)
	for k, v := range seen {
		assert.Equal(t, 1, v, "message %s delivered once", k)
	}
	assert.Positive(t, counts[0], "both consumers are served: %v", counts)
	assert.Positive(t, counts[1], "both consumers are served: %v", counts)
}

// Consumers are served by their credit: a queue hands each consumer exactly what it granted, one
// message at a time in turn, never more to one while another waits.
func TestFairDispatchByCredit(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b, nil)
	s := newSess(t, c)
	snd := sender(t, s, "fair", nil)
	for i := range 30 {
		send(t, snd, fmt.Sprint(i))
	}
	r1 := receiver(t, newSess(t, c), "fair", &amqp.ReceiverOptions{Credit: -1})
	r2 := receiver(t, newSess(t, c), "fair", &amqp.ReceiverOptions{Credit: -1})
	require.NoError(t, r1.IssueCredit(10))
	require.NoError(t, r2.IssueCredit(5))
	got := func(r *amqp.Receiver, n int) []string {
		var out []string
		for range n {
			m := recv(t, r)
			require.NoError(t, r.AcceptMessage(testCtx(t), m))
			out = append(out, string(m.GetData()))
		}
		require.NoError(t, r.DrainCredit(testCtx(t), nil))
		assert.Nil(t, r.Prefetched(), "nothing beyond the credit")
		return out
	}
	a, b2 := got(r1, 10), got(r2, 5)
	assert.Len(t, a, 10)
	assert.Len(t, b2, 5)
	assertQueue(t, s, "fair", "15", "16", "17", "18", "19", "20", "21", "22", "23", "24", "25", "26", "27", "28", "29")
}

func TestDynamicReplyQueue(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b, nil)
	s := newSess(t, c)
	reply := receiver(t, s, "", &amqp.ReceiverOptions{DynamicAddress: true})
	addr := reply.Address()
	require.True(t, strings.HasPrefix(addr, "/queues/amq.gen-"), addr)
	// A server answers on the reply address with the correlation-id.
	snd := sender(t, s, addr, nil)
	corr := "req-1"
	require.NoError(t, snd.Send(testCtx(t), &amqp.Message{Data: [][]byte{[]byte("answer")}, Properties: &amqp.MessageProperties{CorrelationID: corr}}, nil))
	m := recv(t, reply)
	require.NoError(t, reply.AcceptMessage(testCtx(t), m))
	assert.Equal(t, corr, m.Properties.CorrelationID)
	require.NoError(t, snd.Close(testCtx(t)))
	// The temporary queue goes with its link.
	require.NoError(t, reply.Close(testCtx(t)))
	require.Eventually(t, func() bool {
		r, err := s.NewReceiver(testCtx(t), addr, nil)
		if err == nil {
			_ = r.Close(testCtx(t))
			return false
		}
		var ae *amqp.Error
		return errors.As(err, &ae) && ae.Condition == "amqp:not-found"
	}, 5*1e9, 10*1e6)
}

func TestUnsettledReturnToQueueWhenLinkCloses(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b, nil)
	s := newSess(t, c)
	snd := sender(t, s, "returns", nil)
	for _, body := range []string{"a", "b", "c"} {
		send(t, snd, body)
	}
	r := receiver(t, newSess(t, c), "returns", &amqp.ReceiverOptions{Credit: 2})
	recv(t, r)
	recv(t, r)
	require.NoError(t, r.Close(testCtx(t))) // two unsettled deliveries go back, in order
	r2 := receiver(t, s, "returns", &amqp.ReceiverOptions{Credit: 10})
	for _, want := range []string{"a", "b", "c"} {
		m := recv(t, r2)
		assert.Equal(t, want, string(m.GetData()))
		assert.Equal(t, want == "c", m.Header.FirstAcquirer, "first-acquirer of %s", want)
		require.NoError(t, r2.AcceptMessage(testCtx(t), m))
	}

	require.NoError(t, r2.Close(testCtx(t)))

	// The same when the whole connection goes away.
	c2 := dial(t, b, nil)
	r3 := receiver(t, newSess(t, c2), "returns", &amqp.ReceiverOptions{Credit: 2})
	send(t, snd, "d")
	recv(t, r3)
	require.NoError(t, c2.Close())
	r4 := receiver(t, s, "returns", nil)
	m := recv(t, r4)
	assert.Equal(t, "d", string(m.GetData()))
	assert.False(t, m.Header.FirstAcquirer)
	require.NoError(t, r4.AcceptMessage(testCtx(t), m))
}

func TestLinkStealing(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b, nil)
	old := receiver(t, newSess(t, c), "steal", &amqp.ReceiverOptions{Name: "the-link"})
	_ = receiver(t, newSess(t, c), "steal", &amqp.ReceiverOptions{Name: "the-link"})
	_, err := old.Receive(testCtx(t), nil)
	var le *amqp.LinkError
	require.True(t, errors.As(err, &le), "old link detached: %v", err)
	require.NotNil(t, le.RemoteErr)
	assert.Equal(t, amqp.ErrCond("amqp:link:stolen"), le.RemoteErr.Condition)
}
