package telemetry

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func recordingTelemetry(t *testing.T) (*Telemetry, *tracetest.SpanRecorder) {
	t.Helper()
	recorder := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	t.Cleanup(func() { assert.NoError(t, tp.Shutdown(context.Background())) })
	return NewWithTracerProvider(tp), recorder
}

func TestStartSpanFollowsMessagingConventions(t *testing.T) {
	tel, recorder := recordingTelemetry(t)
	producer := Extract(context.Background(), nil, appProps(tpA))

	ctx, span := tel.StartSpan(producer, "publish", OpReceive, "amq.topic:orders.eu", MessageInfo{
		MessageID: "m-1", ConversationID: "c-9", BodySize: 512, RoutingKey: "orders.eu",
		ClientID: "producer-container", PeerAddress: "10.0.0.7",
	})
	SetError(span, "amqp:not-found", "no such exchange")
	span.End()

	ended := recorder.Ended()
	require.Len(t, ended, 1)
	s := ended[0]
	assert.Equal(t, "publish amq.topic:orders.eu", s.Name())
	assert.Equal(t, trace.SpanKindConsumer, s.SpanKind())
	assert.Equal(t, traceA, s.SpanContext().TraceID().String(), "span must join the producer's trace")
	assert.Equal(t, spanA, s.Parent().SpanID().String())
	assert.Equal(t, codes.Error, s.Status().Code)
	assert.ElementsMatch(t, []attribute.KeyValue{
		attribute.String("messaging.system", "warren"),
		attribute.String("messaging.operation.name", "publish"),
		attribute.String("messaging.operation.type", "receive"),
		attribute.String("messaging.destination.name", "amq.topic:orders.eu"),
		attribute.String("messaging.rabbitmq.destination.routing_key", "orders.eu"),
		attribute.String("messaging.message.id", "m-1"),
		attribute.String("messaging.message.conversation_id", "c-9"),
		attribute.Int("messaging.message.body.size", 512),
		attribute.String("messaging.client.id", "producer-container"),
		attribute.String("network.peer.address", "10.0.0.7"),
		attribute.String("error.type", "amqp:not-found"),
	}, s.Attributes())

	// The delivery carries the broker's span, not the producer's.
	out := Inject(ctx)
	require.Len(t, out, 1)
	assert.Equal(t, "00-"+traceA+"-"+s.SpanContext().SpanID().String()+"-01", out[0].Value)
}

func TestStartSpanOmitsEmptyFieldsAndMapsKinds(t *testing.T) {
	tel, recorder := recordingTelemetry(t)
	kinds := map[string]trace.SpanKind{
		OpCreate: trace.SpanKindProducer, OpSend: trace.SpanKindProducer,
		OpReceive: trace.SpanKindConsumer, OpProcess: trace.SpanKindConsumer,
		OpSettle: trace.SpanKindClient, "route": trace.SpanKindInternal,
	}
	for op := range kinds {
		_, span := tel.StartSpan(context.Background(), op, op, "", MessageInfo{})
		span.End()
	}
	ended := recorder.Ended()
	require.Len(t, ended, len(kinds))
	for _, s := range ended {
		assert.Equal(t, kinds[s.Name()], s.SpanKind(), s.Name())
		assert.Len(t, s.Attributes(), 3, "only system and operation attributes: %v", s.Attributes())
		assert.Equal(t, codes.Unset, s.Status().Code)
	}
}

func TestStartSpanWithTracingOff(t *testing.T) {
	tel := Nop()
	base := Extract(context.Background(), appProps(tpA), nil)
	ctx, span := tel.StartSpan(base, "publish", OpReceive, "x", MessageInfo{MessageID: "m"})
	assert.Equal(t, base, ctx, "context must pass through unchanged")
	assert.False(t, span.IsRecording())
	SetError(span, "amqp:internal-error", "ignored")
	span.End()
	// The producer's context still propagates through the broker.
	assert.Equal(t, injected(tpA), Inject(ctx))

	var nilTel *Telemetry
	_, span = nilTel.StartSpan(context.Background(), "publish", OpReceive, "x", MessageInfo{})
	assert.False(t, span.IsRecording())

	allocs := testing.AllocsPerRun(100, func() {
		_, s := tel.StartSpan(base, "publish", OpReceive, "x", MessageInfo{MessageID: "m", BodySize: 1})
		s.End()
	})
	assert.Zero(t, allocs)
}
