package actors

import (
	"fmt"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// marked is a message whose application-property "do" tells the test interceptor what to do with it.
func marked(body, do string) *amqp.Message {
	m := amqp.NewMessage([]byte(body))
	if do != "" {
		m.ApplicationProperties = map[string]any{"do": do}
	}
	return m
}

// steering is a delivery interceptor that copies every delivery to /queues/audit and, by the "do"
// property, drops, dead-letters, releases-once or panics on it; the rest it forwards.
func steering(released map[string]bool) func(*QueueEnv) actor.Actor {
	return func(env *QueueEnv) actor.Actor {
		return actor.ReceiveFunc(func(ctx actor.Context) {
			b, ok := ctx.Message().(*DeliveryBatch)
			if !ok {
				return
			}
			for _, d := range b.Items {
				env.Copy(ctx, "/queues/audit", d)
				do, _ := d.ApplicationProperties().Get("do")
				switch do {
				case "drop":
					env.Withhold(b, Dropped, d)
				case "dead":
					env.Withhold(b, DeadLettered, d)
				case "again":
					if !released[string(d.Raw())] {
						released[string(d.Raw())] = true
						env.Withhold(b, Released, d)
						continue
					}
					env.Forward(b, d)
				case "panic":
					panic("the interceptor broke")
				default:
					env.Forward(b, d)
				}
			}
		})
	}
}

// A delivery interceptor forwards, drops, dead-letters and releases deliveries and taps them all;
// withheld deliveries do not use the consumer's credit, and the queue ends empty.
func TestQueueInterceptorForwardsWithholdsAndTaps(t *testing.T) {
	b := startBroker(t, func(o *Options) {
		o.QueueInterceptors = []QueueInterceptor{{Queue: "steered", New: steering(map[string]bool{})}}
	})
	s := newSess(t, dial(t, b, nil))
	m := newMgmtClient(t, s)
	ok2xx(t, m, "PUT", "/exchanges/steer-dlx", map[string]any{"type": "fanout", "durable": true})
	ok2xx(t, m, "PUT", "/queues/steer-dead", map[string]any{"durable": true})
	ok2xx(t, m, "POST", "/bindings", map[string]any{"source": "steer-dlx", "destination_queue": "steer-dead", "binding_key": ""})
	ok2xx(t, m, "PUT", "/queues/audit", map[string]any{"durable": true})
	ok2xx(t, m, "PUT", "/queues/steered", map[string]any{"durable": true,
		"arguments": map[string]any{"x-dead-letter-exchange": "steer-dlx"}})

	snd := sender(t, s, "/queues/steered", nil)
	for i, do := range []string{"", "drop", "dead", "again", "drop", ""} {
		require.Equal(t, &amqp.StateAccepted{}, sendMsg(t, snd, marked(fmt.Sprint("m", i), do)))
	}
	// Credit 3: the two dropped and the dead-lettered delivery use none of it, so m0, m3 (released
	// once, then forwarded) and m5 arrive.
	r := receiver(t, s, "/queues/steered", &amqp.ReceiverOptions{Credit: -1})
	require.NoError(t, r.IssueCredit(3))
	var got []string
	for range 3 {
		msg := recv(t, r)
		require.NoError(t, r.AcceptMessage(testCtx(t), msg))
		got = append(got, string(msg.GetData()))
	}
	assert.ElementsMatch(t, []string{"m0", "m3", "m5"}, got)
	require.Eventually(t, func() bool { n, _, ok := queueDepth(t, b, "steered"); return ok && n == 0 }, 5*time.Second, 10*time.Millisecond,
		"dropped, dead-lettered and accepted deliveries left the queue")
	assertQueue(t, s, "steer-dead", "m2")
	// Every delivery was tapped: six messages, m3 twice (released, then delivered again).
	assertQueue(t, s, "audit", "m0", "m1", "m2", "m3", "m3", "m4", "m5")
}

// A panicking delivery interceptor is rebuilt; the deliveries it had not decided on reach the consumer;
// deleting the queue still detaches its consumers through it.
func TestQueueInterceptorPanicAndQueueDeletion(t *testing.T) {
	b := startBroker(t, func(o *Options) {
		o.QueueInterceptors = []QueueInterceptor{{Queue: "fragile", New: steering(map[string]bool{})}}
	})
	s := newSess(t, dial(t, b, nil))
	m := newMgmtClient(t, s)
	ok2xx(t, m, "PUT", "/queues/audit", map[string]any{"durable": true})
	ok2xx(t, m, "PUT", "/queues/fragile", map[string]any{"durable": true})
	snd := sender(t, s, "/queues/fragile", nil)
	require.Equal(t, &amqp.StateAccepted{}, sendMsg(t, snd, marked("boom", "panic")))
	before := b.restarts.Load()
	r := receiver(t, s, "/queues/fragile", nil)
	msg := recv(t, r)
	assert.Equal(t, "boom", string(msg.GetData()), "an undecided delivery of a failed batch is forwarded")
	require.NoError(t, r.AcceptMessage(testCtx(t), msg))
	assert.Equal(t, before+1, b.restarts.Load(), "the failure is counted")
	require.Equal(t, &amqp.StateAccepted{}, sendMsg(t, snd, marked("after", "")))
	msg = recv(t, r)
	assert.Equal(t, "after", string(msg.GetData()), "the rebuilt interceptor forwards")
	require.NoError(t, r.AcceptMessage(testCtx(t), msg))

	ok2xx(t, m, "DELETE", "/queues/fragile", nil)
	_, err := r.Receive(testCtx(t), nil)
	var le *amqp.LinkError
	require.ErrorAs(t, err, &le)
	require.NotNil(t, le.RemoteErr)
	assert.Equal(t, amqp.ErrCond("amqp:resource-deleted"), le.RemoteErr.Condition)
}
