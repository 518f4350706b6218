package actors

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/protocol"
	"github.com/warren-mq/warren/telemetry"
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

	resp, err := http.Get("http://" + b.HTTPAddr().String() + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	text := string(body)
	for _, want := range []string{
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
	} {
		assert.Contains(t, text, want)
	}
}
