package actors

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/actors/definitions"
	"github.com/warren-mq/warren/protocol"
	"github.com/warren-mq/warren/supervision"
	"github.com/warren-mq/warren/telemetry"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// One trace from the producer's span through the broker's hops to the consumer: receive (child of the
// producer's span) → route → enqueue → deliver → settle, and the delivery carries the deliver span's
// traceparent in its message-annotations.
func TestTracingFollowsTheMessage(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	b := startBroker(t, withTopology, func(o *Options) { o.Telemetry = telemetry.NewWithTracerProvider(tp) })
	s := newSess(t, dial(t, b, nil))

	// The producer's own span, propagated in application-properties as the W3C AMQP draft allows.
	producerCtx, producer := tp.Tracer("producer").Start(context.Background(), "send orders")
	carrier := map[string]any{}
	for _, e := range telemetry.Inject(producerCtx) {
		carrier[string(e.Key.(protocol.Symbol))] = e.Value
	}
	producer.End()
	require.Contains(t, carrier, "traceparent")
	send1 := &amqp.Message{Data: [][]byte{[]byte("traced")}, ApplicationProperties: carrier}
	require.NoError(t, sender(t, s, "/exchanges/work/red", nil).Send(testCtx(t), send1, nil))

	r := receiver(t, s, "/queues/work-red", nil)
	m := recv(t, r)
	require.NoError(t, r.AcceptMessage(testCtx(t), m))
	assert.Equal(t, carrier["traceparent"], m.ApplicationProperties["traceparent"], "application-properties are never changed")
	tp2, ok := m.Annotations["traceparent"].(string)
	require.True(t, ok, "the delivery carries the broker's traceparent in message-annotations")

	require.Eventually(t, func() bool { return len(rec.Ended()) >= 6 }, 5e9, 1e7)
	byName := map[string]sdktrace.ReadOnlySpan{}
	for _, sp := range rec.Ended() {
		byName[sp.Name()] = sp
	}
	chain := []string{"send orders", "receive work:red", "route work", "enqueue work-red", "deliver work-red", "settle work-red"}
	traceID := producer.SpanContext().TraceID()
	for i, name := range chain {
		sp, ok := byName[name]
		require.True(t, ok, "span %q missing; have %v", name, names(rec.Ended()))
		assert.Equal(t, traceID, sp.SpanContext().TraceID(), "%s is in the producer's trace", name)
		if i > 0 {
			assert.Equal(t, byName[chain[i-1]].SpanContext().SpanID(), sp.Parent().SpanID(), "%s is a child of %s", name, chain[i-1])
		}
	}
	deliver := byName["deliver work-red"].SpanContext()
	assert.Equal(t, "00-"+deliver.TraceID().String()+"-"+deliver.SpanID().String()+"-01", tp2)
	assert.Equal(t, trace.SpanKindConsumer, byName["receive work:red"].SpanKind())
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name())
	}
	return out
}

func TestMetricsEndpoint(t *testing.T) {
	b := startBroker(t, withTopology, func(o *Options) { o.HTTPAddr = "127.0.0.1:0" })
	s := newSess(t, dial(t, b, nil))
	send(t, sender(t, s, "/exchanges/work/red", nil), "m1")
	sendMsg(t, sender(t, s, "/exchanges/work/none", nil), amqp.NewMessage([]byte("lost")))
	r := receiver(t, s, "/queues/work-red", nil)
	require.NoError(t, r.AcceptMessage(testCtx(t), recv(t, r)))
	send(t, sender(t, s, "/queues/work-blue", nil), "waiting")

	// The accept is fire-and-forget (rcv-settle-mode first): the queue counts it when it gets there.
	wants := []string{
		`warren_messages_published_total{exchange="work",vhost="/"} 2`,
		`warren_messages_routed_total{exchange="work",vhost="/"} 1`,
		`warren_messages_unroutable_total{exchange="work",vhost="/"} 1`,
		`warren_messages_delivered_total{queue="work-red",vhost="/"} 1`,
		`warren_messages_acknowledged_total{queue="work-red",vhost="/"} 1`,
		`warren_queue_messages{queue="work-blue",vhost="/"} 1`,
		`warren_queue_consumers{queue="work-red",vhost="/"} 1`,
		"warren_connections 1",
		"warren_bytes_received_total",
		"warren_settle_latency_seconds_bucket",
	}
	require.Eventually(t, func() bool {
		text := scrapeMetrics(t, b)
		for _, want := range wants {
			if !strings.Contains(text, want) {
				return false
			}
		}
		return true
	}, 5*time.Second, 10*time.Millisecond, "every count reaches /metrics")
}

// tracedMessage is a message carrying a fresh producer span's traceparent in its application-properties;
// it returns the producer's trace.
func tracedMessage(t *testing.T, tp trace.TracerProvider, body string) (*amqp.Message, trace.TraceID) {
	t.Helper()
	ctx, span := tp.Tracer("producer").Start(context.Background(), "send "+body)
	defer span.End()
	props := map[string]any{}
	for _, e := range telemetry.Inject(ctx) {
		props[string(e.Key.(protocol.Symbol))] = e.Value
	}
	require.Contains(t, props, "traceparent")
	return &amqp.Message{Data: [][]byte{[]byte(body)}, ApplicationProperties: props}, span.SpanContext().TraceID()
}

// spansOf returns the ended spans of trace id by name.
func spansOf(rec *tracetest.SpanRecorder, id trace.TraceID) map[string][]sdktrace.ReadOnlySpan {
	out := map[string][]sdktrace.ReadOnlySpan{}
	for _, sp := range rec.Ended() {
		if sp.SpanContext().TraceID() == id {
			out[sp.Name()] = append(out[sp.Name()], sp)
		}
	}
	return out
}

func attr(sp sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range sp.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.String()
		}
	}
	return ""
}

// Redelivery, dead-lettering, expiry and unroutable messages show in the producer's trace (issue 6):
// each as a span of the broker, parent-linked to the hop it happened at.
func TestTracingShowsRedeliveryDeadLetterExpiryAndUnroutable(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	b := startBroker(t, withTopology, func(o *Options) { o.Telemetry = telemetry.NewWithTracerProvider(tp) })
	s := newSess(t, dial(t, b, nil))
	// waitSpans waits until trace id holds count spans named name.
	waitSpans := func(id trace.TraceID, name string, count int) map[string][]sdktrace.ReadOnlySpan {
		t.Helper()
		var got map[string][]sdktrace.ReadOnlySpan
		require.Eventually(t, func() bool {
			got = spansOf(rec, id)
			return len(got[name]) >= count
		}, 5*time.Second, 5*time.Millisecond, "no %d×%q in trace %s; have %v", count, name, id, names(rec.Ended()))
		return got
	}

	t.Run("redelivery", func(t *testing.T) {
		msg, id := tracedMessage(t, tp, "again")
		require.IsType(t, &amqp.StateAccepted{}, sendMsg(t, sender(t, s, "/exchanges/work/blue", nil), msg))
		r := receiver(t, s, "/queues/work-blue", nil)
		require.NoError(t, r.ReleaseMessage(testCtx(t), recv(t, r)))
		require.NoError(t, r.AcceptMessage(testCtx(t), recv(t, r)))
		require.NoError(t, r.Close(testCtx(t)))

		got := waitSpans(id, "settle work-blue", 2)
		enqueue := got["enqueue work-blue"]
		require.Len(t, enqueue, 1)
		deliver := got["deliver work-blue"]
		require.Len(t, deliver, 2, "one deliver span per delivery")
		redelivered := map[string]bool{}
		for _, d := range deliver {
			assert.Equal(t, enqueue[0].SpanContext().SpanID(), d.Parent().SpanID(), "each delivery is a child of the enqueue")
			redelivered[attr(d, "warren.redelivered")] = true
		}
		assert.Equal(t, map[string]bool{"false": true, "true": true}, redelivered, "the second delivery is marked redelivered")
		outcomes := map[string]bool{}
		for _, st := range got["settle work-blue"] {
			outcomes[attr(st, "warren.outcome")] = true
		}
		assert.Equal(t, map[string]bool{"released": true, "accepted": true}, outcomes)
	})

	t.Run("rejected and dead-lettered", func(t *testing.T) {
		msg, id := tracedMessage(t, tp, "bad")
		require.IsType(t, &amqp.StateAccepted{}, sendMsg(t, sender(t, s, "/queues/rejects", nil), msg))
		r := receiver(t, s, "/queues/rejects", nil)
		require.NoError(t, r.RejectMessage(testCtx(t), recv(t, r), &amqp.Error{Condition: "app:invalid-order", Description: "no such product"}))
		dead := receiver(t, s, "/queues/dead", nil)
		require.NoError(t, dead.AcceptMessage(testCtx(t), recv(t, dead)))
		require.NoError(t, r.Close(testCtx(t)))
		require.NoError(t, dead.Close(testCtx(t))) // its credit would take the next subtest's message

		got := waitSpans(id, "settle dead", 1)
		enqueue := got["enqueue rejects"]
		require.Len(t, enqueue, 1)
		settle := got["settle rejects"]
		require.Len(t, settle, 1)
		assert.Equal(t, "rejected", attr(settle[0], "warren.outcome"))
		assert.Equal(t, "app:invalid-order", attr(settle[0], "error.type"), "a rejection's error.type is the consumer's condition")
		assert.Equal(t, codes.Error, settle[0].Status().Code)
		dl := got["dead-letter rejects"]
		require.Len(t, dl, 1)
		assert.Equal(t, "rejected", attr(dl[0], "warren.reason"))
		assert.Equal(t, enqueue[0].SpanContext().SpanID(), dl[0].Parent().SpanID())
		// The dead-lettered copy goes on in the same trace: through the dead-letter exchange to its queue.
		for _, name := range []string{"route dlx", "enqueue dead", "deliver dead"} {
			assert.Len(t, got[name], 1, "%s in the trace; have %v", name, names(rec.Ended()))
		}
	})

	t.Run("expired", func(t *testing.T) {
		msg, id := tracedMessage(t, tp, "late")
		require.IsType(t, &amqp.StateAccepted{}, sendMsg(t, sender(t, s, "/queues/short", nil), msg))
		got := waitSpans(id, "enqueue dead", 1) // x-message-ttl 50 ms, then the dead-letter exchange
		dl := got["dead-letter short"]
		require.Len(t, dl, 1)
		assert.Equal(t, "expired", attr(dl[0], "warren.reason"))
		assert.Equal(t, got["enqueue short"][0].SpanContext().SpanID(), dl[0].Parent().SpanID())
		assert.Len(t, got["route dlx"], 1)
		dead := receiver(t, s, "/queues/dead", nil)
		require.NoError(t, dead.AcceptMessage(testCtx(t), recv(t, dead)))
		require.NoError(t, dead.Close(testCtx(t)))
	})

	t.Run("unroutable", func(t *testing.T) {
		msg, id := tracedMessage(t, tp, "lost")
		sendMsg(t, sender(t, s, "/exchanges/work/none", nil), msg)
		got := waitSpans(id, "route work", 1)
		route := got["route work"][0]
		assert.Equal(t, "true", attr(route, "warren.unroutable"))
		assert.Equal(t, "0", attr(route, "warren.destinations"))
		assert.Equal(t, got["receive work:none"][0].SpanContext().SpanID(), route.Parent().SpanID())
		for name := range got {
			assert.False(t, strings.HasPrefix(name, "enqueue "), "an unroutable message is enqueued nowhere: %s", name)
		}
	})
}

// A hop whose actor message lost the span context still joins the producer's trace, from the
// traceparent in the message itself: a durable message paged to disk and read back (only the window of
// a queue is in memory), and a message a full reject-publish-dlx queue refuses and dead-letters.
func TestTracingJoinsTheProducerWhenTheCarrierLostTheContext(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	defs := topology()
	defs.Queues = append(defs.Queues, definitions.Queue{Name: "full", Vhost: "/", Arguments: map[string]any{
		"x-max-length": int64(1), "x-overflow": "reject-publish-dlx", "x-dead-letter-exchange": "dlx"}})
	b := startBroker(t, func(o *Options) {
		o.Telemetry = telemetry.NewWithTracerProvider(tp)
		o.Definitions = defs
		o.DataDir = t.TempDir()
		o.Limits.QueueMemoryMessages = 1
	})
	s := newSess(t, dial(t, b, nil))
	producerSpan := func(id trace.TraceID) trace.SpanID {
		for _, sp := range rec.Ended() {
			if sp.SpanContext().TraceID() == id && !sp.Parent().IsValid() {
				return sp.SpanContext().SpanID()
			}
		}
		t.Fatalf("no producer span in trace %s", id)
		return trace.SpanID{}
	}

	t.Run("paged to disk", func(t *testing.T) {
		snd := sender(t, s, "big", nil)
		first, _ := tracedMessage(t, tp, "in-memory")
		paged, id := tracedMessage(t, tp, "paged")
		for _, m := range []*amqp.Message{first, paged} {
			m.Header = &amqp.MessageHeader{Durable: true}
			require.IsType(t, &amqp.StateAccepted{}, sendMsg(t, snd, m))
		}
		r := receiver(t, s, "big", nil)
		require.NoError(t, r.AcceptMessage(testCtx(t), recv(t, r)))
		m := recv(t, r)
		require.Equal(t, "paged", string(m.GetData()))
		require.NoError(t, r.AcceptMessage(testCtx(t), m))
		require.NoError(t, r.Close(testCtx(t)))

		var got map[string][]sdktrace.ReadOnlySpan
		require.Eventually(t, func() bool {
			got = spansOf(rec, id)
			return len(got["settle big"]) == 1
		}, 5*time.Second, 5*time.Millisecond, "the paged message's trace has no settle span: %v", names(rec.Ended()))
		require.Len(t, got["deliver big"], 1, "the paged message's delivery is in the producer's trace")
		deliver := got["deliver big"][0]
		assert.Equal(t, producerSpan(id), deliver.Parent().SpanID(), "read back from disk, it continues the producer's span")
		assert.Equal(t, deliver.SpanContext().SpanID(), got["settle big"][0].Parent().SpanID())
		assert.Equal(t, "00-"+id.String()+"-"+deliver.SpanContext().SpanID().String()+"-01", m.Annotations["traceparent"],
			"the delivery carries the deliver span")
	})

	t.Run("refused by a full queue and dead-lettered", func(t *testing.T) {
		snd := sender(t, s, "/queues/full", nil)
		kept, _ := tracedMessage(t, tp, "kept")
		refused, id := tracedMessage(t, tp, "refused")
		require.IsType(t, &amqp.StateAccepted{}, sendMsg(t, snd, kept))
		require.IsType(t, &amqp.StateRejected{}, sendMsg(t, snd, refused))
		dead := receiver(t, s, "/queues/dead", nil)
		require.NoError(t, dead.AcceptMessage(testCtx(t), recv(t, dead)))
		require.NoError(t, dead.Close(testCtx(t)))

		var got map[string][]sdktrace.ReadOnlySpan
		require.Eventually(t, func() bool {
			got = spansOf(rec, id)
			return len(got["settle dead"]) == 1
		}, 5*time.Second, 5*time.Millisecond, "the refused message's trace does not reach its dead-letter queue: %v", names(rec.Ended()))
		dl := got["dead-letter full"]
		require.Len(t, dl, 1, "the refusal's dead-lettering is in the producer's trace")
		assert.Equal(t, "maxlen", attr(dl[0], "warren.reason"))
		assert.Equal(t, producerSpan(id), dl[0].Parent().SpanID())
		for _, name := range []string{"route dlx", "enqueue dead", "deliver dead"} {
			assert.Len(t, got[name], 1, "%s in the trace", name)
		}
	})
}

// scrapeMetrics returns the broker's /metrics page.
func scrapeMetrics(t *testing.T, b *Broker) string {
	t.Helper()
	resp, err := http.Get("http://" + b.HTTPAddr().String() + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(body)
}

// Every settlement outcome, redelivery, dead-lettering, the endpoints' gauges, bytes out and a
// supervised restart are counted at /metrics (DESIGN.md §7), with /healthz and /readyz beside it.
func TestMetricsCountOutcomesAndRestarts(t *testing.T) {
	f := supervision.NewFaults()
	b := startBroker(t, withTopology, withFaults(f), func(o *Options) { o.HTTPAddr = "127.0.0.1:0" })
	s := newSess(t, dial(t, b, nil))

	send(t, sender(t, s, "/exchanges/work/blue", nil), "twice")
	r := receiver(t, s, "/queues/work-blue", nil)
	require.NoError(t, r.ReleaseMessage(testCtx(t), recv(t, r)))
	require.NoError(t, r.ModifyMessage(testCtx(t), recv(t, r), &amqp.ModifyMessageOptions{DeliveryFailed: true}))
	require.NoError(t, r.AcceptMessage(testCtx(t), recv(t, r)))

	send(t, sender(t, s, "/queues/rejects", nil), "bad")
	rj := receiver(t, s, "/queues/rejects", nil)
	require.NoError(t, rj.RejectMessage(testCtx(t), recv(t, rj), nil))

	f.Inject(supervision.Exchange, "x-work", "*actors.publishBatch", 1)
	send(t, sender(t, s, "/exchanges/work/red", nil), "during-crash") // routed again after the restart

	want := []string{
		`warren_messages_delivered_total{queue="work-blue",vhost="/"} 3`,
		`warren_messages_redelivered_total{queue="work-blue",vhost="/"} 2`,
		`warren_messages_released_total{queue="work-blue",vhost="/"} 2`,
		`warren_messages_acknowledged_total{queue="work-blue",vhost="/"} 1`,
		`warren_messages_rejected_total{queue="rejects",vhost="/"} 1`,
		`warren_messages_dead_lettered_total{queue="rejects",reason="rejected",vhost="/"} 1`,
		`warren_queue_messages{queue="dead",vhost="/"} 1`,
		`warren_queue_messages{queue="work-red",vhost="/"} 1`,
		`warren_queue_consumers{queue="work-blue",vhost="/"} 1`,
		`warren_actor_restarts_total{kind="exchange"} 1`,
		"warren_connections 1",
		"warren_sessions 1",
		"warren_links 5", // three senders, two receivers
	}
	var text string
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		text = scrapeMetrics(t, b)
		for _, w := range want {
			assert.Contains(c, text, w)
		}
	}, 5*time.Second, 10*time.Millisecond)
	sent := regexp.MustCompile(`(?m)^warren_bytes_sent_total(?:\{[^}]*\})? (\d+)`).FindStringSubmatch(text)
	require.NotNil(t, sent, "no warren_bytes_sent_total in:\n%s", text)
	n, err := strconv.Atoi(sent[1])
	require.NoError(t, err)
	assert.Greater(t, n, 0, "bytes written to clients are counted")

	for path, body := range map[string]string{"/healthz": "ok\n", "/readyz": "ready\n"} {
		resp, err := http.Get("http://" + b.HTTPAddr().String() + path)
		require.NoError(t, err)
		got, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, path)
		assert.Equal(t, body, string(got), path)
	}
}

// messaging.message.id and messaging.message.conversation_id show each AMQP message-id type readably
// (spec 3.2.4: ulong, uuid, binary, string).
func TestTracingMessageIDAttributes(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	b := startBroker(t, func(o *Options) { o.Telemetry = telemetry.NewWithTracerProvider(tp) })
	snd := sender(t, newSess(t, dial(t, b, nil)), "ids", nil)
	uuid := amqp.UUID{0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17, 0x40, 0x00}
	cases := []struct {
		id, correlation  any
		wantID, wantCorr string
	}{
		{uuid, []byte{0xca, 0xfe}, "123e4567-e89b-12d3-a456-426614174000", "cafe"},
		{uint64(42), "order-7", "42", "order-7"},
	}
	for _, tc := range cases {
		msg, id := tracedMessage(t, tp, "ids")
		msg.Properties = &amqp.MessageProperties{MessageID: tc.id, CorrelationID: tc.correlation}
		sendMsg(t, snd, msg)
		var receive []sdktrace.ReadOnlySpan
		require.Eventually(t, func() bool {
			receive = spansOf(rec, id)["receive :ids"]
			return len(receive) == 1
		}, 5*time.Second, 5*time.Millisecond)
		assert.Equal(t, tc.wantID, attr(receive[0], "messaging.message.id"))
		assert.Equal(t, tc.wantCorr, attr(receive[0], "messaging.message.conversation_id"))
	}
}

// With tracing off (no OTLP endpoint: telemetry.Nop), every per-message tracing helper returns at
// once: no allocation, the carried context passes through and deliveries keep the message's own
// annotations, even for a message whose producer sent a traceparent.
func TestTracingOffCostsNothing(t *testing.T) {
	b := &Broker{tel: telemetry.Nop()}
	pm := protocol.Message{
		Properties:            protocol.Properties{MessageID: protocol.UUID{1}},
		ApplicationProperties: protocol.Map{{Key: "traceparent", Value: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}},
	}
	msg := newMessage(nil, &pm, "x", "k", time.Now(), nil)
	var sc trace.SpanContext
	var ann protocol.Map
	allocs := testing.AllocsPerRun(100, func() {
		pm := msg.parsed()
		sc = b.spanReceive(&pm, "x", "k", "container", "127.0.0.1:1")
		sc = b.spanChild(sc, "route", telemetry.OpProcess, "x", msg)
		sc = b.spanChild(sc, "deliver", telemetry.OpSend, "q", msg)
		ann = deliveryAnnotations(msg, sc)
		b.spanEvent(sc, "dead-letter", "q", msg, "expired")
		b.spanSettle(sc, "q", msg, settlement{outcome: outcomeDeadLetter})
	})
	assert.Zero(t, allocs)
	assert.False(t, sc.IsValid(), "no span context is made up")
	assert.Equal(t, msg.annotations, ann)
}

// An embedding program's logger gets trace ids too: a line logged inside a traced operation carries them.
func TestEmbeddedLoggerAddsTraceIDs(t *testing.T) {
	var buf bytes.Buffer
	o, err := Options{Logger: slog.New(slog.NewTextHandler(&buf, nil))}.withDefaults()
	require.NoError(t, err)
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6},
		TraceFlags: trace.FlagsSampled})
	o.Logger.InfoContext(trace.ContextWithSpanContext(context.Background(), sc), "inside a hop")
	assert.Contains(t, buf.String(), "trace_id="+sc.TraceID().String())
	assert.Contains(t, buf.String(), "span_id="+sc.SpanID().String())
}

// A message on a null target (ANONYMOUS-RELAY) counts as published to the exchange its `to` names.
func TestRelayedMessagesCountUnderTheirExchange(t *testing.T) {
	b := startBroker(t, withTopology, func(o *Options) { o.HTTPAddr = "127.0.0.1:0" })
	snd := sender(t, newSess(t, dial(t, b, nil)), "", nil)
	to := "/exchanges/work/red"
	require.Equal(t, &amqp.StateAccepted{}, sendMsg(t, snd, &amqp.Message{Data: [][]byte{[]byte("x")}, Properties: &amqp.MessageProperties{To: &to}}))
	text := scrapeMetrics(t, b)
	assert.Contains(t, text, `warren_messages_published_total{exchange="work",vhost="/"} 1`)
	assert.NotContains(t, text, `warren_messages_published_total{exchange="",vhost="/"} 1`)
}
