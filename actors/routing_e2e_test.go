package actors

import (
	"context"
	"errors"
	"sort"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/actors/definitions"
)

// topology declares exchanges, queues and bindings through the definitions file, as a user would.
func topology() *definitions.Definitions {
	q := func(name string, args map[string]any) definitions.Queue {
		return definitions.Queue{Name: name, Vhost: "/", Durable: true, Arguments: args}
	}
	bind := func(src, dst, key string, args map[string]any) definitions.Binding {
		return definitions.Binding{Source: src, Vhost: "/", Destination: dst, DestinationType: "queue", RoutingKey: key, Arguments: args}
	}
	return &definitions.Definitions{
		Vhosts: []definitions.Vhost{{Name: "/"}},
		Exchanges: []definitions.Exchange{
			{Name: "logs", Vhost: "/", Type: "fanout", Durable: true},
			{Name: "events", Vhost: "/", Type: "topic", Durable: true},
			{Name: "work", Vhost: "/", Type: "direct", Durable: true},
			{Name: "hdr", Vhost: "/", Type: "headers", Durable: true},
			{Name: "front", Vhost: "/", Type: "direct", Durable: true},
			{Name: "dlx", Vhost: "/", Type: "fanout", Durable: true},
		},
		Queues: []definitions.Queue{
			q("logs-a", nil), q("logs-b", nil),
			q("ev-star", nil), q("ev-hash", nil), q("ev-all", nil),
			q("work-red", nil), q("work-blue", nil),
			q("hdr-all", nil), q("hdr-any", nil),
			q("e2e", nil),
			q("dead", nil),
			q("short", map[string]any{"x-message-ttl": int64(50), "x-dead-letter-exchange": "dlx"}),
			q("capped", map[string]any{"x-max-length": int64(2)}),
			q("capped-reject", map[string]any{"x-max-length": int64(1), "x-overflow": "reject-publish"}),
			q("rejects", map[string]any{"x-dead-letter-exchange": "dlx", "x-dead-letter-routing-key": "ignored-by-fanout"}),
		},
		Bindings: []definitions.Binding{
			bind("logs", "logs-a", "", nil), bind("logs", "logs-b", "", nil),
			bind("events", "ev-star", "order.*", nil), bind("events", "ev-hash", "order.#", nil), bind("events", "ev-all", "#", nil),
			bind("work", "work-red", "red", nil), bind("work", "work-blue", "blue", nil),
			bind("hdr", "hdr-all", "", map[string]any{"x-match": "all", "kind": "a", "level": int64(1)}),
			bind("hdr", "hdr-any", "", map[string]any{"x-match": "any", "kind": "a", "level": int64(1)}),
			{Source: "front", Vhost: "/", Destination: "work", DestinationType: "exchange", RoutingKey: "red"},
			bind("dlx", "dead", "", nil),
		},
	}
}

func withTopology(o *Options) { o.Definitions = topology() }

// drainBodies takes exactly the messages of a queue (accepting them) and returns their bodies sorted.
// It grants one credit more than it expects, receives len(want) messages, then drains the link
// (spec 2.6.7): a message beyond the expected ones would arrive before the drain completes and show up
// in the result, so the check is exact without any sleep.
func drainBodies(t *testing.T, s *amqp.Session, queue string, want ...string) []string {
	t.Helper()
	r := receiver(t, s, "/queues/"+queue, &amqp.ReceiverOptions{Credit: -1})
	defer r.Close(testCtx(t))
	var out []string
	require.NoError(t, r.IssueCredit(uint32(len(want)+1)))
	for range want {
		m := recv(t, r)
		require.NoError(t, r.AcceptMessage(testCtx(t), m))
		out = append(out, string(m.GetData()))
	}
	// One more credit is out: a message beyond those expected comes within a moment (the queue holds it
	// already). go-amqp merges credit issued just before a drain into the drain, so waiting for it is
	// what makes an empty or exact queue checkable.
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	if m, err := r.Receive(ctx, nil); err == nil {
		require.NoError(t, r.AcceptMessage(testCtx(t), m))
		out = append(out, string(m.GetData()))
	}
	cancel()
	require.NoError(t, r.DrainCredit(testCtx(t), nil))
	for m := r.Prefetched(); m != nil; m = r.Prefetched() {
		require.NoError(t, r.AcceptMessage(testCtx(t), m))
		out = append(out, string(m.GetData()))
	}
	sort.Strings(out)
	return out
}

// assertQueue checks a queue holds exactly the given bodies (in any order), consuming them.
func assertQueue(t *testing.T, s *amqp.Session, queue string, want ...string) {
	t.Helper()
	sorted := append([]string(nil), want...)
	sort.Strings(sorted)
	if len(sorted) == 0 {
		sorted = nil
	}
	assert.Equal(t, sorted, drainBodies(t, s, queue, want...), "queue %s", queue)
}

func sendMsg(t *testing.T, s *amqp.Sender, m *amqp.Message) amqp.DeliveryState {
	t.Helper()
	rc, err := s.SendWithReceipt(testCtx(t), m, nil)
	require.NoError(t, err)
	st, err := rc.Wait(testCtx(t))
	require.NoError(t, err)
	return st
}

func TestFanoutExchange(t *testing.T) {
	b := startBroker(t, withTopology)
	s := newSess(t, dial(t, b, nil))
	snd := sender(t, s, "/exchanges/logs", nil)
	send(t, snd, "one")
	send(t, snd, "two")
	assertQueue(t, s, "logs-a", "one", "two")
	assertQueue(t, s, "logs-b", "one", "two")
}

func TestTopicExchangeWithKeyInAddressAndSubject(t *testing.T) {
	b := startBroker(t, withTopology)
	s := newSess(t, dial(t, b, nil))
	send(t, sender(t, s, "/exchanges/events/order.created", nil), "created")
	send(t, sender(t, s, "/exchanges/events/order.eu.paid", nil), "eu-paid")
	// /exchanges/{x} without a key: the routing key is the message's subject.
	bySubject := sender(t, s, "/exchanges/events", nil)
	subj := "invoice"
	require.Equal(t, &amqp.StateAccepted{}, sendMsg(t, bySubject, &amqp.Message{Data: [][]byte{[]byte("invoice")}, Properties: &amqp.MessageProperties{Subject: &subj}}))

	assertQueue(t, s, "ev-star", "created")
	assertQueue(t, s, "ev-hash", "created", "eu-paid")
	assertQueue(t, s, "ev-all", "created", "eu-paid", "invoice")
}

func TestDirectAndExchangeToExchange(t *testing.T) {
	b := startBroker(t, withTopology)
	s := newSess(t, dial(t, b, nil))
	send(t, sender(t, s, "/exchanges/work/red", nil), "r1")
	send(t, sender(t, s, "/exchanges/work/blue", nil), "b1")
	// front --(red)--> work --(red)--> work-red
	send(t, sender(t, s, "/exchanges/front/red", nil), "via-front")
	assertQueue(t, s, "work-red", "r1", "via-front")
	assertQueue(t, s, "work-blue", "b1")
}

func TestHeadersExchange(t *testing.T) {
	b := startBroker(t, withTopology)
	s := newSess(t, dial(t, b, nil))
	snd := sender(t, s, "/exchanges/hdr", nil)
	msg := func(body string, props map[string]any) *amqp.Message {
		return &amqp.Message{Data: [][]byte{[]byte(body)}, ApplicationProperties: props}
	}
	sendMsg(t, snd, msg("both", map[string]any{"kind": "a", "level": int64(1)}))
	sendMsg(t, snd, msg("kind-only", map[string]any{"kind": "a"}))
	assert.IsType(t, &amqp.StateReleased{}, sendMsg(t, snd, msg("none", map[string]any{"kind": "b"})))
	assertQueue(t, s, "hdr-all", "both")
	assertQueue(t, s, "hdr-any", "both", "kind-only")
}

func TestUnroutableIsReleased(t *testing.T) {
	b := startBroker(t, withTopology)
	s := newSess(t, dial(t, b, nil))
	st := sendMsg(t, sender(t, s, "/exchanges/work/green", nil), amqp.NewMessage([]byte("x")))
	assert.IsType(t, &amqp.StateReleased{}, st)
}

func TestAnonymousRelayUsesTo(t *testing.T) {
	b := startBroker(t, withTopology)
	s := newSess(t, dial(t, b, nil))
	snd := sender(t, s, "", nil) // null target: ANONYMOUS-RELAY
	for _, to := range []string{"/queues/work-blue", "/exchanges/work/red", "/exchanges/events/order.x"} {
		to := to
		st := sendMsg(t, snd, &amqp.Message{Data: [][]byte{[]byte(to)}, Properties: &amqp.MessageProperties{To: &to}})
		require.Equal(t, &amqp.StateAccepted{}, st, to)
	}
	missing := "/queues/nope"
	st := sendMsg(t, snd, &amqp.Message{Data: [][]byte{[]byte("x")}, Properties: &amqp.MessageProperties{To: &missing}})
	rej, ok := st.(*amqp.StateRejected)
	require.True(t, ok, "got %T", st)
	assert.Equal(t, amqp.ErrCond("amqp:not-found"), rej.Error.Condition)
	assertQueue(t, s, "work-blue", "/queues/work-blue")
	assertQueue(t, s, "work-red", "/exchanges/work/red")
	assertQueue(t, s, "ev-star", "/exchanges/events/order.x")
}

func TestAttachErrors(t *testing.T) {
	b := startBroker(t, withTopology)
	s := newSess(t, dial(t, b, nil))
	cases := map[string]string{
		"/queues/missing":        "amqp:not-found",
		"/exchanges/missing/key": "amqp:not-found",
		"/exchanges/amq.default": "amqp:not-allowed",
		"/bogus/path":            "amqp:invalid-field",
	}
	for addr, cond := range cases {
		_, err := s.NewSender(testCtx(t), addr, nil)
		var ae *amqp.Error
		require.True(t, errors.As(err, &ae), "%s: %v", addr, err)
		assert.Equal(t, amqp.ErrCond(cond), ae.Condition, addr)
	}
	_, err := s.NewReceiver(testCtx(t), "/queues/missing", nil)
	var ae *amqp.Error
	require.True(t, errors.As(err, &ae), "%v", err)
	assert.Equal(t, amqp.ErrCond("amqp:not-found"), ae.Condition)
	// The session is still fine.
	send(t, sender(t, s, "/queues/e2e", nil), "still-works")
	assertQueue(t, s, "e2e", "still-works")
}

func TestMessageTTLDeadLetters(t *testing.T) {
	b := startBroker(t, withTopology)
	s := newSess(t, dial(t, b, nil))
	send(t, sender(t, s, "/queues/short", nil), "ephemeral")
	r := receiver(t, s, "/queues/dead", nil)
	m := recv(t, r)
	require.NoError(t, r.AcceptMessage(testCtx(t), m))
	assert.Equal(t, "ephemeral", string(m.GetData()))
	assert.Equal(t, "expired", m.Annotations["x-first-death-reason"])
	assert.Equal(t, "short", m.Annotations["x-first-death-queue"])
	assert.Equal(t, "dlx", m.Annotations["x-exchange"])
}

func TestPerMessageTTL(t *testing.T) {
	b := startBroker(t)
	s := newSess(t, dial(t, b, nil))
	snd := sender(t, s, "ttlq", nil)
	sendMsg(t, snd, &amqp.Message{Data: [][]byte{[]byte("gone")}, Header: &amqp.MessageHeader{TTL: 20 * time.Millisecond}})
	sendMsg(t, snd, &amqp.Message{Data: [][]byte{[]byte("kept")}})
	time.Sleep(60 * time.Millisecond) // let the first message's TTL pass (the assertion is on content, not timing)
	assertQueue(t, s, "ttlq", "kept")
}

func TestMaxLengthDropHeadAndRejectPublish(t *testing.T) {
	b := startBroker(t, withTopology)
	s := newSess(t, dial(t, b, nil))
	snd := sender(t, s, "/queues/capped", nil)
	for _, body := range []string{"1", "2", "3"} {
		send(t, snd, body)
	}
	assertQueue(t, s, "capped", "2", "3")

	rj := sender(t, s, "/queues/capped-reject", nil)
	require.IsType(t, &amqp.StateAccepted{}, sendMsg(t, rj, amqp.NewMessage([]byte("first"))))
	st := sendMsg(t, rj, amqp.NewMessage([]byte("second")))
	rej, ok := st.(*amqp.StateRejected)
	require.True(t, ok, "got %T", st)
	assert.Equal(t, amqp.ErrCond("amqp:resource-limit-exceeded"), rej.Error.Condition)
	assertQueue(t, s, "capped-reject", "first")
}
