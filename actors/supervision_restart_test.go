package actors

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/supervision"
)

// queueDepth asks a queue of the default vhost for its ready+unsettled count and consumers; ok is false
// when the vhost no longer has the queue.
func queueDepth(t *testing.T, b *Broker, name string) (messages, consumers int, ok bool) {
	t.Helper()
	res, err := b.system.Root.RequestFuture(b.vhosts["/"], &inspect{fn: func(a any) any {
		if q := a.(*vhost).queues[name]; q != nil {
			return q.pid
		}
		return nil
	}}, 5*time.Second).Result()
	require.NoError(t, err)
	if res == nil {
		return 0, 0, false
	}
	pid := res.(*actor.PID)
	st, err := b.system.Root.RequestFuture(pid, &queueStats{}, 2*time.Second).Result()
	if r, isReply := st.(*queueStatsReply); err == nil && isReply {
		return r.messages, r.consumers, true
	}
	// No answer: the queue must have been deleted between the two requests.
	still, verr := b.system.Root.RequestFuture(b.vhosts["/"], &inspect{fn: func(a any) any {
		q := a.(*vhost).queues[name]
		return q != nil && q.pid.Equal(pid)
	}}, 5*time.Second).Result()
	require.NoError(t, verr)
	require.False(t, still.(bool), "queue %s is registered but does not answer: %v", name, err)
	return 0, 0, false
}

// A queue panics mid-delivery — while a consumer is receiving and settling — on a publish, a
// settlement and a credit grant: it restarts each time with its messages, consumers and unsettled
// deliveries, the consumer keeps receiving, and every accepted message arrives exactly once.
func TestQueuePanicMidDeliveryRestartKeepsConsumersReceiving(t *testing.T) {
	f := supervision.NewFaults()
	b := startBroker(t, withFaults(f))
	s := newSess(t, dial(t, b, nil))
	snd := sender(t, s, "middel", nil)
	send(t, snd, "warm-up")
	r := receiver(t, newSess(t, dial(t, b, nil)), "middel", &amqp.ReceiverOptions{Credit: 5})

	got := map[string]int{}
	consumed := make(chan error, 1)
	accepted := make(chan map[string]bool, 1)
	go func() {
		want := <-accepted
		for {
			done := true
			for body := range want {
				if got[body] == 0 {
					done = false
				}
			}
			if done {
				consumed <- nil
				return
			}
			m, err := r.Receive(testCtx(t), nil)
			if err != nil {
				consumed <- err
				return
			}
			got[string(m.GetData())]++
			if err := r.AcceptMessage(testCtx(t), m); err != nil {
				consumed <- err
				return
			}
		}
	}()

	ok := map[string]bool{"warm-up": true}
	rejected := 0
	for i := range 60 {
		switch i {
		case 10:
			f.Inject(supervision.Queue, "q-middel", "*actors.enqueueBatch", 1)
		case 25:
			f.Inject(supervision.Queue, "q-middel", "*actors.settleBatch", 1)
		case 40:
			f.Inject(supervision.Queue, "q-middel", "*actors.consumerCredit", 1)
		}
		body := fmt.Sprint(i)
		switch st := sendMsg(t, snd, amqp.NewMessage([]byte(body))).(type) {
		case *amqp.StateAccepted:
			ok[body] = true
		case *amqp.StateRejected:
			assert.Equal(t, amqp.ErrCond("amqp:internal-error"), st.Error.Condition)
			rejected++
		default:
			t.Fatalf("unexpected outcome %T", st)
		}
	}
	accepted <- ok
	require.NoError(t, <-consumed)
	assert.Equal(t, 1, rejected, "only the publish the queue was storing when it panicked is refused")
	for body, n := range got {
		assert.Equal(t, 1, n, "message %q delivered once", body)
		assert.True(t, ok[body], "message %q was delivered but never accepted from its producer", body)
	}
	require.Eventually(t, func() bool { n, _, _ := queueDepth(t, b, "middel"); return n == 0 }, 5*time.Second, 10*time.Millisecond,
		"every settlement was applied, the one the queue panicked on too")
	assert.GreaterOrEqual(t, b.restarts.Load(), int64(3))
}

// A queue panics on its TTL timer's tick: the tick comes again after the restart, so expired messages
// still leave a queue nobody consumes from.
func TestQueuePanicOnTTLTickRestartStillExpires(t *testing.T) {
	f := supervision.NewFaults()
	b := startBroker(t, withFaults(f))
	s := newSess(t, dial(t, b, nil))
	st, _ := newMgmtClient(t, s).call("PUT", "/queues/brief", map[string]any{"durable": false,
		"arguments": map[string]any{"x-message-ttl": int64(30)}})
	require.Equal(t, 2, st/100)
	f.Inject(supervision.Queue, "q-brief", "*actors.ttlTick", 1)
	send(t, sender(t, s, "/queues/brief", nil), "short-lived")
	require.Eventually(t, func() bool { return b.restarts.Load() == 1 }, 5*time.Second, 5*time.Millisecond, "the tick panicked")
	require.Eventually(t, func() bool { n, _, _ := queueDepth(t, b, "brief"); return n == 0 }, 5*time.Second, 10*time.Millisecond,
		"the message expired after the restart")
}

// A queue panics on its deletion: the deletion comes again after the restart, so its consumer is
// still detached with amqp:resource-deleted.
func TestQueuePanicOnDeleteRestartStillDetachesConsumers(t *testing.T) {
	f := supervision.NewFaults()
	b := startBroker(t, withFaults(f))
	s := newSess(t, dial(t, b, nil))
	send(t, sender(t, s, "doomed-del", nil), "m")
	r := receiver(t, s, "/queues/doomed-del", &amqp.ReceiverOptions{Credit: 1})
	recv(t, r)
	f.Inject(supervision.Queue, "q-doomed-del", "*actors.queueDelete", 1)
	st, _ := newMgmtClient(t, newSess(t, dial(t, b, nil))).call("DELETE", "/queues/doomed-del", nil)
	require.Equal(t, 200, st)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := r.Receive(ctx, nil)
	var le *amqp.LinkError
	require.True(t, errors.As(err, &le), "the consumer is detached: %v", err)
	require.NotNil(t, le.RemoteErr)
	assert.Equal(t, amqp.ErrCond("amqp:resource-deleted"), le.RemoteErr.Condition)
	assert.Equal(t, int64(1), b.restarts.Load())
}

// A vhost panics on an attach's address lookup: the attach is refused with amqp:internal-error at once
// (the request is answered, not left to time out).
func TestVhostPanicAnswersTheRequestItDropped(t *testing.T) {
	f := supervision.NewFaults()
	b := startBroker(t, withFaults(f))
	s := newSess(t, dial(t, b, nil))
	f.Inject(supervision.Vhost, "", "*actors.resolveTarget", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := s.NewSender(ctx, "anywhere", nil)
	var ae *amqp.Error
	require.True(t, errors.As(err, &ae), "the attach is refused: %v", err)
	assert.Equal(t, amqp.ErrCond("amqp:internal-error"), ae.Condition)
	assert.Equal(t, int64(1), b.restarts.Load())
}

// An exchange that fails on every publish is given up: the alarm is raised, the bindings to it go, and
// a publish that would have reached it is settled (released: routed nowhere) instead of waiting for a
// stopped actor; the exchange's own publish in flight is rejected with amqp:internal-error.
func TestExchangeFailingRepeatedlyIsGivenUpSupervision(t *testing.T) {
	f := supervision.NewFaults()
	b := startBroker(t, withFaults(f))
	s := newSess(t, dial(t, b, nil))
	mc := newMgmtClient(t, s)
	for _, x := range []string{"front-x", "mid-x"} {
		st, _ := mc.call("PUT", "/exchanges/"+x, map[string]any{"type": "fanout", "durable": false})
		require.Equal(t, 2, st/100, x)
	}
	st, _ := mc.call("PUT", "/queues/behind-mid", map[string]any{"durable": false})
	require.Equal(t, 2, st/100)
	st, _ = mc.call("POST", "/bindings", map[string]any{"source": "front-x", "destination_exchange": "mid-x", "binding_key": ""})
	require.Equal(t, 2, st/100)
	st, _ = mc.call("POST", "/bindings", map[string]any{"source": "mid-x", "destination_queue": "behind-mid", "binding_key": ""})
	require.Equal(t, 2, st/100)
	snd := sender(t, s, "/exchanges/front-x", nil)
	send(t, snd, "routed")

	f.Inject(supervision.Exchange, "x-mid-x", "*actors.publishBatch", -1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := snd.SendWithReceipt(ctx, amqp.NewMessage([]byte("poison")), nil)
	require.NoError(t, err)
	stt, err := out.Wait(ctx)
	require.NoError(t, err, "the publish the exchange failed on is settled")
	rej, ok := stt.(*amqp.StateRejected)
	require.True(t, ok, "got %T", stt)
	assert.Equal(t, amqp.ErrCond("amqp:internal-error"), rej.Error.Condition)

	alarms := b.Alarms()
	require.Len(t, alarms, 1)
	assert.Equal(t, "exchange", alarms[0].Kind)
	assert.Equal(t, "mid-x", alarms[0].Name)
	f.Clear()
	assert.IsType(t, &amqp.StateReleased{}, sendMsg(t, snd, amqp.NewMessage([]byte("after"))),
		"mid-x is gone: the publish routes nowhere and is settled")
	assertQueue(t, s, "behind-mid", "routed")
}

// A vhost panics on the deletion of an auto-delete queue whose last consumer left: the restarted vhost
// (its durable queues rebuilt from the store) gets the deletion again, so the queue does not come back.
func TestVhostPanicOnQueueDeletionRestartStillDeletes(t *testing.T) {
	f := supervision.NewFaults()
	b := startBroker(t, withFaults(f), func(o *Options) { o.DataDir = t.TempDir() })
	s := newSess(t, dial(t, b, nil))
	st, _ := newMgmtClient(t, s).call("PUT", "/queues/last-one-out", map[string]any{"durable": true, "auto_delete": true})
	require.Equal(t, 2, st/100)
	r := receiver(t, s, "/queues/last-one-out", nil)
	f.Inject(supervision.Vhost, "", "*actors.deleteQueue", 1)
	require.NoError(t, r.Close(testCtx(t)))
	require.Eventually(t, func() bool { return b.restarts.Load() == 1 }, 5*time.Second, 5*time.Millisecond, "the vhost panicked")
	require.Eventually(t, func() bool { _, _, ok := queueDepth(t, b, "last-one-out"); return !ok }, 5*time.Second, 10*time.Millisecond,
		"the queue is deleted after the restart (which had restored it from the store)")
}
