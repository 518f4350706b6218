package actors

// Supervision and flow control at the links: credit bounded by unconfirmed publishes, links detached
// when their queue or vhost goes away, /management usable under the memory alarm.

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/supervision"
)

// stallQueue blocks a queue's actor until the returned function is called.
func stallQueue(t *testing.T, b *Broker, name string) (release func()) {
	t.Helper()
	ch := make(chan struct{})
	entered := make(chan struct{})
	b.system.Root.Send(b.queuePID(t, name), &inspect{fn: func(any) any { close(entered); <-ch; return nil }})
	<-entered
	var done bool
	release = func() {
		if !done {
			done = true
			close(ch)
		}
	}
	t.Cleanup(release)
	return release
}

// A publisher gets link credit only as far as its target queue can take: while the queue actor does
// not confirm (here it is stalled), at most LinkCredit publishes are in flight — they do not pile up in
// its mailbox — and publishing resumes once the queue confirms.
func TestSupervisionCreditBoundedByStalledQueue(t *testing.T) {
	const credit = 16
	b := startBroker(t, func(o *Options) { o.Limits.LinkCredit = credit })
	s := newSess(t, dial(t, b, nil))
	snd := sender(t, s, "stalled", nil)
	send(t, snd, "declares the queue")
	release := stallQueue(t, b, "stalled")

	var receipts []amqp.SendReceipt
	for len(receipts) < 10*credit {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		r, err := snd.SendWithReceipt(ctx, amqp.NewMessage([]byte("m")), nil)
		cancel()
		if err != nil {
			var ae *amqp.Error // go-amqp's answer to a send that found no credit before its deadline
			require.True(t, errors.As(err, &ae), "%v", err)
			require.Equal(t, amqp.ErrCondTransferLimitExceeded, ae.Condition, "blocked for want of credit")
			break
		}
		receipts = append(receipts, r)
	}
	assert.LessOrEqual(t, len(receipts), credit, "no more publishes in flight than one link's credit")
	release()
	for _, r := range receipts {
		st, err := r.Wait(testCtx(t))
		require.NoError(t, err)
		assert.IsType(t, &amqp.StateAccepted{}, st)
	}
	send(t, snd, "publishing resumes")
}

// A vhost that restarts stops its queues and exchanges (protoactor restarts children with their parent):
// their consumers and producers are detached with an error instead of waiting for ever on actors that
// are gone.
func TestSupervisionVhostRestartDetachesLinks(t *testing.T) {
	f := supervision.NewFaults()
	b := startBroker(t, withFaults(f))
	s := newSess(t, dial(t, b, nil))
	send(t, sender(t, s, "lives-in-vhost", nil), "declares the queue")
	snd := sender(t, s, "/queues/lives-in-vhost", nil)
	r := receiver(t, s, "/queues/lives-in-vhost", nil)
	require.NoError(t, r.AcceptMessage(testCtx(t), recv(t, r)))
	xs := sender(t, s, "/exchanges/amq.fanout", nil) // a producer to an exchange

	f.Inject(supervision.Vhost, "", "*actors.resolveTarget", 1)
	_, err := s.NewSender(testCtx(t), "anything", nil) // the vhost panics and restarts
	require.Error(t, err)
	// The vhost answers again only once it has restarted, and it restarts only after all its old
	// exchanges and queues stopped; each told its watching links (a system message, handled before
	// the next transfer) before it told the vhost. Until then a transfer could still reach the old
	// amq.fanout and be released as unroutable, which is no detach. (The probe attaches on a session
	// of its own: go-amqp v1.7.0 frees a handle as soon as our detach arrives, before its own detach
	// is written, so a new link on s could reuse the handle of a link the restart detached and be
	// refused with handle-in-use.)
	again, err := newSess(t, dial(t, b, nil)).NewSender(testCtx(t), "/exchanges/amq.fanout", nil)
	require.NoError(t, err, "the restarted vhost serves attaches")
	require.NoError(t, again.Close(testCtx(t)))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = r.Receive(ctx, nil)
	var le *amqp.LinkError
	require.True(t, errors.As(err, &le), "the consumer is detached: %v", err)
	require.NotNil(t, le.RemoteErr)
	for _, p := range []*amqp.Sender{snd, xs} {
		err = p.Send(ctx, amqp.NewMessage([]byte("after the restart")), nil)
		var rejected *amqp.Error
		if !errors.As(err, &le) && errors.As(err, &rejected) {
			// The transfer went out before the detach arrived: the broker rejects it, its target
			// being gone, and the detach follows.
			require.Equal(t, amqp.ErrCondResourceDeleted, rejected.Condition, "rejected: %v", err)
			err = p.Send(ctx, amqp.NewMessage([]byte("after the rejection")), nil)
		}
		require.True(t, errors.As(err, &le), "the producer is detached: %v", err)
		require.NotNil(t, le.RemoteErr)
	}
}

// A producer attached straight to a queue (/queues/{q}) is detached with amqp:resource-deleted when the
// queue is deleted, and when it is stopped after failing repeatedly, instead of publishing into a
// stopped actor and waiting for ever for the outcome (RabbitMQ detaches it the same way).
func TestSupervisionProducerDetachedWhenItsQueueGoesCrash(t *testing.T) {
	f := supervision.NewFaults()
	b := startBroker(t, withFaults(f))
	s := newSess(t, dial(t, b, nil))
	send(t, sender(t, s, "deleted-under-producer", nil), "m")
	send(t, sender(t, s, "failing-under-producer", nil), "m")
	deleted := sender(t, s, "/queues/deleted-under-producer", nil)
	failing := sender(t, s, "/queues/failing-under-producer", nil)

	st, _ := newMgmtClient(t, newSess(t, dial(t, b, nil))).call("DELETE", "/queues/deleted-under-producer", nil)
	require.Equal(t, 200, st)
	f.Inject(supervision.Queue, "q-failing-under-producer", "*actors.queueStats", -1)
	b.system.Root.Send(b.queuePID(t, "failing-under-producer"), &queueStats{}) // fails until given up
	require.Eventually(t, func() bool { return len(b.Alarms()) == 1 }, 5*time.Second, 10*time.Millisecond)

	for _, p := range []*amqp.Sender{deleted, failing} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := p.Send(ctx, amqp.NewMessage([]byte("into the void")), nil)
		cancel()
		var le *amqp.LinkError
		require.True(t, errors.As(err, &le), "the producer is detached: %v", err)
		require.NotNil(t, le.RemoteErr)
		assert.Equal(t, amqp.ErrCond("amqp:resource-deleted"), le.RemoteErr.Condition)
	}
}

// Under the memory alarm an operator can still use /management (to purge or delete the queue that
// holds the memory): only publishing links are starved of credit.
func TestSupervisionManagementWorksUnderMemoryAlarm(t *testing.T) {
	b := startBroker(t, func(o *Options) { o.Limits.MemoryHighWatermark = 1 }) // the alarm is always on
	require.Eventually(t, func() bool { return len(b.Alarms()) == 1 }, 5*time.Second, 10*time.Millisecond)
	s := newSess(t, dial(t, b, nil))
	mc := newMgmtClient(t, s)
	st, _ := mc.call("PUT", "/queues/big", map[string]any{"durable": false})
	assert.Equal(t, 2, st/100)
	st, _ = mc.call("DELETE", "/queues/big", nil)
	assert.Equal(t, 200, st)
}

// DESIGN.md §1: a failure of the broker supervisor escalates: it is logged and counted, and the broker
// stops cleanly (Failed is closed) instead of living on without a supervision root.
func TestSupervisionBrokerSupervisorPanicStopsTheBroker(t *testing.T) {
	f := supervision.NewFaults()
	b, err := NewBroker(Options{AMQPAddr: "127.0.0.1:0", Logger: testLogger(), Faults: f})
	require.NoError(t, err)
	require.NoError(t, b.Start())
	t.Cleanup(func() { _ = b.Shutdown(context.Background()) })
	f.Inject(supervision.Other, "", "*actors.spawnChild", 1) // only the broker supervisor spawns connections
	if c, err := amqp.Dial(testCtx(t), "amqp://"+b.Addr().String(), nil); err == nil {
		_ = c.Close() // its open went out before the spawn failed; the broker drops it
	}
	select {
	case <-b.Failed():
	case <-time.After(15 * time.Second):
		t.Fatal("the broker did not stop after its supervisor failed")
	}
	assert.Equal(t, int64(1), b.restarts.Load())
	_, err = net.DialTimeout("tcp", b.Addr().String(), time.Second)
	assert.Error(t, err, "the listener is closed")
}
