package actors

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/actors/definitions"
	"github.com/warren-mq/warren/protocol"
)

// passStage is an extension actor that reports each publish it sees (its name and the routing key)
// and forwards it.
func passStage(name string, seen chan<- string) func(*ExchangeEnv) actor.Actor {
	return func(env *ExchangeEnv) actor.Actor {
		return actor.ReceiveFunc(func(ctx actor.Context) {
			if m, ok := ctx.Message().(*PublishBatch); ok {
				for _, p := range m.Items {
					seen <- name + " " + p.Exchange() + "/" + p.RoutingKey()
				}
				env.Forward(ctx, m.Items...)
			}
		})
	}
}

// ok2xx makes a management request that must succeed.
func ok2xx(t *testing.T, m *mgmtClient, method, path string, body any) {
	t.Helper()
	status, resp := m.call(method, path, body)
	require.True(t, status >= 200 && status < 300, "%s %s: %d %v", method, path, status, resp)
}

func nextSeen(t *testing.T, seen <-chan string) string {
	t.Helper()
	select {
	case s := <-seen:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no extension saw the publish")
		return ""
	}
}

// A custom type is declared from a definitions file by its name, and every interceptor of its
// exchange runs in front of it, in order: interceptors → custom type → bindings.
func TestExtensionInterceptorsInFrontOfCustomType(t *testing.T) {
	seen := make(chan string, 16)
	defs, err := definitions.Parse([]byte(`{
		"vhosts": [{"name": "/"}],
		"exchanges": [{"name": "tagged", "vhost": "/", "type": "x-pass", "durable": true,
			"arguments": {"kind": "topic"}}],
		"queues": [{"name": "tq", "vhost": "/", "durable": true}],
		"bindings": [{"source": "tagged", "vhost": "/", "destination": "tq", "destination_type": "queue",
			"routing_key": "a.#"}]}`), testLogger())
	require.NoError(t, err)
	b := startBroker(t, func(o *Options) {
		o.Definitions = defs
		o.ExchangeTypes = []ExchangeType{{
			Name:        "x-pass",
			RoutingKind: func(args map[string]any) (string, error) { return args["kind"].(string), nil },
			New:         passStage("type", seen),
		}}
		o.Interceptors = []Interceptor{
			{Exchange: "tagged", New: passStage("first", seen)},
			{Exchange: "other", New: passStage("unrelated", seen)},
			{Vhost: "/", Exchange: "tagged", New: passStage("second", seen)},
		}
	})
	s := newSess(t, dial(t, b, nil))
	snd := sender(t, s, "/exchanges/tagged/a.b.c", nil)
	assert.IsType(t, &amqp.StateAccepted{}, sendMsg(t, snd, amqp.NewMessage([]byte("m1"))), "routed by the topic table")
	assert.Equal(t, []string{"first tagged/a.b.c", "second tagged/a.b.c", "type tagged/a.b.c"},
		[]string{nextSeen(t, seen), nextSeen(t, seen), nextSeen(t, seen)})
	assertQueue(t, s, "tq", "m1")
	unrouted := sender(t, s, "/exchanges/tagged/b", nil)
	assert.IsType(t, &amqp.StateReleased{}, sendMsg(t, unrouted, amqp.NewMessage([]byte("m2"))))
	assert.Len(t, seen, 3, "each stage saw the unroutable publish too")
}

// An interceptor may refuse publishes: Reject settles them rejected with its error, Drop as
// unroutable (released); Forward after either does not settle them twice.
func TestExtensionRejectAndDrop(t *testing.T) {
	b := startBroker(t, func(o *Options) {
		o.Interceptors = []Interceptor{{Exchange: "amq.direct", New: func(env *ExchangeEnv) actor.Actor {
			return actor.ReceiveFunc(func(ctx actor.Context) {
				m, ok := ctx.Message().(*PublishBatch)
				if !ok {
					return
				}
				for _, p := range m.Items {
					switch v, _ := p.ApplicationProperties().Get("verdict"); v {
					case "reject":
						env.Reject(ctx, protocol.NewError(protocol.ErrPreconditionFailed, "no verdict allowed"), p)
					case "drop":
						env.Drop(ctx, p)
					}
				}
				env.Forward(ctx, m.Items...) // refused publishes are routed, but not confirmed again
			})
		}}}
	})
	c := dial(t, b, nil)
	s := newSess(t, c)
	m := newMgmtClient(t, s)
	ok2xx(t, m, "PUT", "/queues/checked", map[string]any{"durable": true})
	ok2xx(t, m, "POST", "/bindings", map[string]any{"source": "amq.direct", "destination_queue": "checked", "binding_key": "k", "arguments": map[string]any{}})
	snd := sender(t, s, "/exchanges/amq.direct/k", nil)
	msg := func(verdict string) *amqp.Message {
		m := amqp.NewMessage([]byte(verdict))
		m.ApplicationProperties = map[string]any{"verdict": verdict}
		return m
	}
	st := sendMsg(t, snd, msg("reject"))
	require.IsType(t, &amqp.StateRejected{}, st)
	rej := st.(*amqp.StateRejected)
	require.NotNil(t, rej.Error)
	assert.Equal(t, amqp.ErrCond("amqp:precondition-failed"), rej.Error.Condition)
	assert.Equal(t, "no verdict allowed", rej.Error.Description)
	assert.IsType(t, &amqp.StateReleased{}, sendMsg(t, snd, msg("drop")))
	assert.IsType(t, &amqp.StateAccepted{}, sendMsg(t, snd, msg("pass")))
	assertQueue(t, s, "checked", "drop", "pass", "reject")
}

// An extension that panics is restarted and gets the batch again: its producer is not left waiting.
func TestExtensionPanicRedeliversTheBatch(t *testing.T) {
	var calls atomic.Int32
	b := startBroker(t, func(o *Options) {
		o.Interceptors = []Interceptor{{Exchange: "amq.fanout", New: func(env *ExchangeEnv) actor.Actor {
			return actor.ReceiveFunc(func(ctx actor.Context) {
				if m, ok := ctx.Message().(*PublishBatch); ok {
					if calls.Add(1) == 1 {
						panic("the first batch fails")
					}
					env.Forward(ctx, m.Items...)
				}
			})
		}}}
	})
	s := newSess(t, dial(t, b, nil))
	m := newMgmtClient(t, s)
	ok2xx(t, m, "PUT", "/queues/fanned", map[string]any{"durable": true})
	ok2xx(t, m, "POST", "/bindings", map[string]any{"source": "amq.fanout", "destination_queue": "fanned", "binding_key": "", "arguments": map[string]any{}})
	snd := sender(t, s, "/exchanges/amq.fanout", nil)
	ctx, cancel := context.WithTimeout(testCtx(t), 10*time.Second)
	defer cancel()
	r, err := snd.SendWithReceipt(ctx, amqp.NewMessage([]byte("survivor")), nil)
	require.NoError(t, err)
	st, err := r.Wait(ctx)
	require.NoError(t, err, "the producer got an outcome")
	assert.IsType(t, &amqp.StateAccepted{}, st)
	assert.Equal(t, int32(2), calls.Load(), "handled again after the restart")
	assertQueue(t, s, "fanned", "survivor")
}

// Deleting an exchange stops every extension actor in front of it, not only the outermost.
func TestExtensionChainStopsWithItsExchange(t *testing.T) {
	stopped := make(chan string, 4)
	stage := func(name string) func(*ExchangeEnv) actor.Actor {
		return func(env *ExchangeEnv) actor.Actor {
			return actor.ReceiveFunc(func(ctx actor.Context) {
				switch m := ctx.Message().(type) {
				case *PublishBatch:
					env.Forward(ctx, m.Items...)
				case *actor.Stopped:
					stopped <- name
				}
			})
		}
	}
	b := startBroker(t, func(o *Options) {
		o.ExchangeTypes = []ExchangeType{{Name: "x-plain", New: stage("type")}}
		o.Interceptors = []Interceptor{{Exchange: "short-lived", New: stage("interceptor")}}
	})
	s := newSess(t, dial(t, b, nil))
	m := newMgmtClient(t, s)
	ok2xx(t, m, "PUT", "/exchanges/short-lived", map[string]any{"type": "x-plain", "durable": true})
	ok2xx(t, m, "DELETE", "/exchanges/short-lived", nil)
	got := map[string]bool{}
	for range 2 {
		select {
		case name := <-stopped:
			got[name] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("stopped: %v; want the interceptor and the type's actor", got)
		}
	}
	assert.Equal(t, map[string]bool{"interceptor": true, "type": true}, got)
}

// When an extension behind an interceptor fails so often that supervision stops it, the interceptor
// refuses further publishes (amqp:internal-error) rather than forwarding them to nobody.
func TestExtensionChainRefusesOnceAStageIsGivenUp(t *testing.T) {
	var panics atomic.Int32
	b := startBroker(t, func(o *Options) {
		o.ExchangeTypes = []ExchangeType{{Name: "x-broken", New: func(*ExchangeEnv) actor.Actor {
			return actor.ReceiveFunc(func(ctx actor.Context) {
				if _, ok := ctx.Message().(*PublishBatch); ok {
					panics.Add(1)
					panic("always")
				}
			})
		}}}
		o.Interceptors = []Interceptor{{Exchange: "fragile", New: passStage("tap", make(chan string, 100))}}
	})
	s := newSess(t, dial(t, b, nil))
	ok2xx(t, newMgmtClient(t, s), "PUT", "/exchanges/fragile", map[string]any{"type": "x-broken", "durable": true})
	// Pre-settled publishes wait for no outcome: they make the type's actor fail until it is given up.
	trigger := sender(t, s, "/exchanges/fragile/k", &amqp.SenderOptions{SettlementMode: amqp.SenderSettleModeSettled.Ptr()})
	send(t, trigger, "boom")
	require.Eventually(t, func() bool { return panics.Load() >= 10 }, 10*time.Second, 10*time.Millisecond)
	snd := sender(t, s, "/exchanges/fragile/k", nil)
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(testCtx(t), time.Second)
		defer cancel()
		r, err := snd.SendWithReceipt(ctx, amqp.NewMessage([]byte("after")), nil)
		if err != nil {
			return false
		}
		st, err := r.Wait(ctx)
		rej, ok := st.(*amqp.StateRejected)
		return err == nil && ok && rej.Error != nil && rej.Error.Condition == "amqp:internal-error" &&
			rej.Error.Description == "an extension of this exchange stopped after failing repeatedly"
	}, 15*time.Second, 50*time.Millisecond, "publishes are refused, not left waiting")
}

// Your own daemon: Warren with your actors is NewBroker, Start and, on a signal, Shutdown — the whole
// of cmd/warren's job, minus its flags. This one copies every message published to "orders" to the
// queue "audit".
func Example_customDaemon() {
	auditTap := Interceptor{Exchange: "orders", New: func(env *ExchangeEnv) actor.Actor {
		return actor.ReceiveFunc(func(ctx actor.Context) {
			if m, ok := ctx.Message().(*PublishBatch); ok {
				for _, p := range m.Items {
					env.Copy(ctx, "/queues/audit", p)
				}
				env.Forward(ctx, m.Items...)
			}
		})
	}}
	b, err := NewBroker(Options{AMQPAddr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler),
		Interceptors: []Interceptor{auditTap}})
	if err != nil {
		log.Fatal(err)
	}
	if err := b.Start(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("listening")
	// A daemon waits here: ctx, _ := signal.NotifyContext(context.Background(), os.Interrupt); <-ctx.Done()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("stopped")
	// Output:
	// listening
	// stopped
}

// A producer attached to an exchange with extensions is not left waiting when the exchange is
// deleted: its link is detached with amqp:resource-deleted (so are producers of a deleted queue).
func TestExtensionDeletedExchangeDetachesItsProducers(t *testing.T) {
	b := startBroker(t, func(o *Options) {
		o.Interceptors = []Interceptor{{Exchange: "tapped", New: passStage("tap", make(chan string, 100))}}
	})
	s := newSess(t, dial(t, b, nil))
	m := newMgmtClient(t, s)
	ok2xx(t, m, "PUT", "/exchanges/tapped", map[string]any{"type": "fanout", "durable": true})
	ok2xx(t, m, "PUT", "/queues/tapped-q", map[string]any{"durable": true})
	ok2xx(t, m, "POST", "/bindings", map[string]any{"source": "tapped", "destination_queue": "tapped-q", "binding_key": ""})
	ps := newSess(t, dial(t, b, nil))
	x := sender(t, ps, "/exchanges/tapped", nil)
	q := sender(t, ps, "/queues/tapped-q", nil)
	require.Equal(t, &amqp.StateAccepted{}, sendMsg(t, x, amqp.NewMessage([]byte("before"))))
	ok2xx(t, m, "DELETE", "/exchanges/tapped", nil)
	ok2xx(t, m, "DELETE", "/queues/tapped-q", nil)
	for name, snd := range map[string]*amqp.Sender{"exchange": x, "queue": q} {
		var err error
		require.Eventually(t, func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			err = snd.Send(ctx, amqp.NewMessage([]byte("after")), nil)
			return err != nil
		}, 10*time.Second, 50*time.Millisecond, "the %s's producer is told", name)
		// The send in flight is rejected with the condition, or the link is already detached with it.
		assert.Equal(t, amqp.ErrCond("amqp:resource-deleted"), remoteCondition(err), "%s: %v", name, err)
	}
}

// remoteCondition is the AMQP condition of a refusal: a rejected delivery or a detached link.
func remoteCondition(err error) amqp.ErrCond {
	var ae *amqp.Error
	var le *amqp.LinkError
	switch {
	case errors.As(err, &le) && le.RemoteErr != nil:
		return le.RemoteErr.Condition
	case errors.As(err, &ae):
		return ae.Condition
	}
	return ""
}
