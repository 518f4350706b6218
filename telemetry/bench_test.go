package telemetry

import (
	"context"
	"testing"

	"github.com/warren-mq/warren/protocol"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// discardExporter drops exported spans, so the benchmark measures span
// creation and the batch processor, not I/O.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

var benchInfo = MessageInfo{
	MessageID: "m-1", BodySize: 256, RoutingKey: "orders.eu",
	ClientID: "producer-container", PeerAddress: "10.0.0.7:53412",
}

// BenchmarkStartSpan measures one span per message: off (no endpoint) and on
// with 100% sampling through a batch span processor.
func BenchmarkStartSpan(b *testing.B) {
	parent := Extract(context.Background(), nil, protocol.Map{{Key: "traceparent", Value: tpA}})

	b.Run("tracing=off", func(b *testing.B) {
		tel := Nop()
		b.ReportAllocs()
		for b.Loop() {
			_, span := tel.StartSpan(parent, "publish", OpReceive, "amq.topic:orders.eu", benchInfo)
			span.End()
		}
	})
	b.Run("tracing=on/sampled=100%", func(b *testing.B) {
		tp := sdktrace.NewTracerProvider(
			sdktrace.WithSampler(sdktrace.AlwaysSample()),
			sdktrace.WithBatcher(discardExporter{}))
		defer func() { _ = tp.Shutdown(context.Background()) }()
		tel := NewWithTracerProvider(tp)
		b.ReportAllocs()
		for b.Loop() {
			_, span := tel.StartSpan(parent, "publish", OpReceive, "amq.topic:orders.eu", benchInfo)
			span.End()
		}
	})
}

func BenchmarkPropagation(b *testing.B) {
	ann := protocol.Map{{Key: protocol.Symbol("x-opt-routing-key"), Value: "rk"}, {Key: protocol.Symbol("traceparent"), Value: tpA}}
	bin := protocol.Map{{Key: protocol.Symbol("traceparent"), Value: binaryTraceparent(0, traceA, spanA, 1)}}
	ctx := Extract(context.Background(), ann, nil)
	b.Run("extract/none", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = Extract(context.Background(), ann[:1], nil)
		}
	})
	b.Run("extract/text", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = Extract(context.Background(), ann, nil)
		}
	})
	b.Run("extract/binary", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = Extract(context.Background(), bin, nil)
		}
	})
	b.Run("inject", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = Inject(ctx)
		}
	})
}

func BenchmarkMetrics(b *testing.B) {
	m := Nop().Metrics
	ctx := context.Background()
	l := m.QueueLabels("/", "orders")
	b.Run("counter/labels", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			l.Delivered.Add(1)
		}
	})
	b.Run("counter/lookup+labels", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.QueueLabels("/", "orders").Delivered.Add(1)
		}
	})
	b.Run("histogram/labels", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.SettleLatency.Record(ctx, 0.003, l.Record...)
		}
	})
}
