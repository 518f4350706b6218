package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/warren-mq/warren/actors"
	"github.com/warren-mq/warren/examples/internal/brokertest"
	"github.com/warren-mq/warren/telemetry"
)

// brokerService is the service.name of Warren's spans (telemetry.DefaultServiceName).
const brokerService = telemetry.DefaultServiceName

// hop is one span of the message's trip: who emits it and its name.
type hop struct{ service, name string }

// chain is the trip of one message, DESIGN.md §7: each span is the parent of the next.
var chain = []hop{
	{serviceName, sendSpan},
	{brokerService, "receive " + exchange + ":" + routingKey},
	{brokerService, "route " + exchange},
	{brokerService, "enqueue " + queue},
	{brokerService, "deliver " + queue},
	{serviceName, processSpan},
}

// settleHop is the broker's span of the consumer's settlement: a child of the deliver span, beside
// the consumer's process span.
var settleHop = hop{brokerService, "settle " + queue}

// brokerAttrs are the messaging attributes (DESIGN.md §7) each broker span of the trip carries:
// messaging.system, messaging.operation.name, messaging.destination.name (exchange:routing-key on the
// way in, the queue on the way out) and more per hop.
var brokerAttrs = map[string]map[string]string{
	"receive " + exchange + ":" + routingKey: {
		"messaging.system": "warren", "messaging.operation.name": "receive", "messaging.operation.type": "receive",
		"messaging.destination.name": exchange + ":" + routingKey, "messaging.rabbitmq.destination.routing_key": routingKey,
		"messaging.message.id": "order-1",
	},
	"route " + exchange: {
		"messaging.system": "warren", "messaging.operation.name": "route", "messaging.destination.name": exchange,
		"warren.unroutable": "false",
	},
	"enqueue " + queue: {
		"messaging.system": "warren", "messaging.operation.name": "enqueue", "messaging.destination.name": queue,
		"warren.durable": "true",
	},
	"deliver " + queue: {
		"messaging.system": "warren", "messaging.operation.name": "deliver", "messaging.destination.name": queue,
		"warren.redelivered": "false",
	},
	"settle " + queue: {
		"messaging.system": "warren", "messaging.operation.name": "settle", "messaging.operation.type": "settle",
		"messaging.destination.name": queue, "warren.outcome": "accepted",
	},
}

// span is a finished span from either side (a span recorder or Jaeger), reduced to the tree.
type span struct {
	service, name             string
	traceID, spanID, parentID string // hex; parentID "" for a root
	start                     time.Time
	attrs                     map[string]string
}

// assertTrace checks that spans hold the trip of chain in the one trace traceID, linked parent to
// child, plus the settle span; spans of other traces are ignored.
func assertTrace(t assert.TestingT, spans []span, traceID string) {
	byHop := map[hop][]span{}
	ids := map[string]span{}
	brokerSpans := 0
	for _, s := range spans {
		if s.service == brokerService {
			brokerSpans++
		}
		if s.traceID != traceID {
			continue
		}
		byHop[hop{s.service, s.name}] = append(byHop[hop{s.service, s.name}], s)
		ids[s.spanID] = s
	}
	if !assert.NotZero(t, brokerSpans, "the broker emitted no spans at all") {
		return
	}
	var parent, deliver span
	for i, h := range append(chain, settleHop) {
		got := byHop[h]
		if !assert.Len(t, got, 1, "want one %q span of %s in trace %s; the trace has %v", h.name, h.service, traceID, names(ids)) {
			return
		}
		s := got[0]
		switch {
		case i == 0:
			assert.Empty(t, s.parentID, "the producer's span is the root")
		case h == settleHop:
			assert.Equal(t, deliver.spanID, s.parentID, "%q must be the child of %q, the trace has %v", h.name, deliver.name, names(ids))
		default:
			assert.Equal(t, parent.spanID, s.parentID, "%q must be the child of %q, the trace has %v", h.name, parent.name, names(ids))
		}
		if h.service == brokerService {
			for k, v := range brokerAttrs[h.name] {
				assert.Equal(t, v, s.attrs[k], "%q: %s", h.name, k)
			}
		}
		if h.name == "deliver "+queue {
			deliver = s
		}
		parent = s
	}
}

// render draws the spans of traceID as a tree, one "service: name" per line, children in start order.
func render(spans []span, traceID string) string {
	children := map[string][]span{}
	ids := map[string]bool{}
	for _, s := range spans {
		if s.traceID == traceID {
			ids[s.spanID] = true
		}
	}
	for _, s := range spans {
		if s.traceID != traceID {
			continue
		}
		parent := s.parentID
		if !ids[parent] {
			parent = "" // a root, or an orphan: shown at the top
		}
		children[parent] = append(children[parent], s)
	}
	var b strings.Builder
	var walk func(parent string, depth int)
	walk = func(parent string, depth int) {
		kids := children[parent]
		sort.SliceStable(kids, func(i, j int) bool { return kids[i].start.Before(kids[j].start) })
		for _, s := range kids {
			fmt.Fprintf(&b, "%s%s: %s\n", strings.Repeat("  ", depth), s.service, s.name)
			walk(s.spanID, depth+1)
		}
	}
	walk("", 0)
	return b.String()
}

// names lists the spans of a trace as "name(span<-parent)", for failure messages.
func names(ids map[string]span) []string {
	out := make([]string, 0, len(ids))
	for _, s := range ids {
		out = append(out, s.service+"/"+s.name+"("+s.spanID+"<-"+s.parentID+")")
	}
	return out
}

// recorder is a tracer provider of service whose finished spans stay in memory.
type recorder struct {
	service string
	rec     *tracetest.SpanRecorder
	tp      *sdktrace.TracerProvider
}

func newRecorder(t *testing.T, service string) *recorder {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", service))))
	t.Cleanup(func() { assert.NoError(t, tp.Shutdown(context.Background())) })
	return &recorder{service: service, rec: rec, tp: tp}
}

func (r *recorder) spans() []span {
	var out []span
	for _, s := range r.rec.Ended() {
		sp := span{service: r.service, name: s.Name(), traceID: s.SpanContext().TraceID().String(),
			spanID: s.SpanContext().SpanID().String(), start: s.StartTime(), attrs: map[string]string{}}
		if s.Parent().IsValid() {
			sp.parentID = s.Parent().SpanID().String()
		}
		for _, kv := range s.Attributes() {
			sp.attrs[string(kv.Key)] = kv.Value.String()
		}
		out = append(out, sp)
	}
	return out
}

// startBroker runs an in-process broker that traces through tel; stop shuts it down (also at the end
// of the test), so its last spans are ended before they are read.
func startBroker(t *testing.T, tel *telemetry.Telemetry) (url string, stop func()) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := actors.NewBroker(actors.Options{AMQPAddr: "127.0.0.1:0", Logger: logger, Telemetry: tel})
	require.NoError(t, err)
	require.NoError(t, b.Start())
	var once sync.Once
	stop = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			assert.NoError(t, b.Shutdown(ctx))
		})
	}
	t.Cleanup(stop)
	return "amqp://" + b.Addr().String(), stop
}

var (
	sentTrace      = regexp.MustCompile(`(?m)^sent "order 1" to /exchanges/tracing/order\.created in trace ([0-9a-f]{32}) \(span ([0-9a-f]{16})\)$`)
	processedTrace = regexp.MustCompile(`(?m)^processed it in trace ([0-9a-f]{32}) \(span ([0-9a-f]{16})\)$`)
)

// traceOf returns the trace id the example printed, checking the consumer joined the producer's trace.
func traceOf(t *testing.T, out string) string {
	t.Helper()
	sent := sentTrace.FindStringSubmatch(out)
	require.NotNil(t, sent, "no send line in:\n%s", out)
	processed := processedTrace.FindStringSubmatch(out)
	require.NotNil(t, processed, "no process line in:\n%s", out)
	require.Equal(t, sent[1], processed[1], "the consumer's span is not in the producer's trace:\n%s", out)
	return sent[1]
}

// The always-on version of jaeger_test.go: the example's and the broker's spans go to two span
// recorders, and together they form one tree — send → receive → route → enqueue → deliver → process.
func TestTraceJoinsProducerBrokerAndConsumer(t *testing.T) {
	example, broker := newRecorder(t, serviceName), newRecorder(t, brokerService)
	url, _ := startBroker(t, telemetry.NewWithTracerProvider(broker.tp))

	var out strings.Builder
	require.NoError(t, run(brokertest.Context(t, 20*time.Second), url, example.tp, &out))
	traceID := traceOf(t, out.String())
	assert.Contains(t, out.String(), "from the message-annotations\n", "the broker wrote its deliver span into the delivery")

	// The broker ends settle when the consumer's disposition reaches the queue, after run returns.
	var spans []span
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		spans = append(example.spans(), broker.spans()...)
		assertTrace(c, spans, traceID)
	}, 10*time.Second, 20*time.Millisecond)
	t.Logf("trace %s:\n%s", traceID, render(spans, traceID))
}

// With a broker that does not trace, the consumer falls back to the producer's traceparent in the
// application-properties: the process span is the send span's child, still one trace.
func TestConsumerFallsBackToApplicationProperties(t *testing.T) {
	example := newRecorder(t, serviceName)
	url, _ := startBroker(t, telemetry.Nop())

	var out strings.Builder
	require.NoError(t, run(brokertest.Context(t, 20*time.Second), url, example.tp, &out))
	traceID := traceOf(t, out.String())
	assert.Contains(t, out.String(), "from the application-properties\n")

	spans := example.spans()
	require.Len(t, spans, 2)
	byName := map[string]span{spans[0].name: spans[0], spans[1].name: spans[1]}
	send, process := byName[sendSpan], byName[processSpan]
	assert.Equal(t, traceID, send.traceID)
	assert.Empty(t, send.parentID)
	assert.Equal(t, traceID, process.traceID)
	assert.Equal(t, send.spanID, process.parentID)
	assert.Equal(t, "process", process.attrs["messaging.operation.type"])
	assert.Equal(t, queue, process.attrs["messaging.destination.name"])
}

// The message-annotations win over the application-properties, whatever the value's AMQP type.
func TestExtractPrefersMessageAnnotations(t *testing.T) {
	const (
		producer = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		broker   = "00-4bf92f3577b34da6a3ce929d0e0e4736-b7ad6b7169203331-01"
	)
	cases := []struct {
		name      string
		msg       amqp.Message
		from, sid string
	}{
		{"annotation string", amqp.Message{
			Annotations:           amqp.Annotations{"traceparent": broker, "x-routing-key": "k"},
			ApplicationProperties: map[string]any{"traceparent": producer},
		}, "message-annotations", "b7ad6b7169203331"},
		{"annotation binary text", amqp.Message{
			Annotations: amqp.Annotations{"traceparent": []byte(broker)},
		}, "message-annotations", "b7ad6b7169203331"},
		{"invalid annotation", amqp.Message{
			Annotations:           amqp.Annotations{"traceparent": "00-zz"},
			ApplicationProperties: map[string]any{"traceparent": producer},
		}, "application-properties", "00f067aa0ba902b7"},
		{"none", amqp.Message{Annotations: amqp.Annotations{int64(7): "x"}}, "nowhere (a new trace)", "0000000000000000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, from := extract(context.Background(), &tc.msg)
			assert.Equal(t, tc.from, from)
			assert.Equal(t, tc.sid, trace.SpanContextFromContext(ctx).SpanID().String())
		})
	}
	assert.ElementsMatch(t, []string{"x-routing-key"}, annotations{"x-routing-key": "k", int64(1): "n"}.Keys())
}

func TestNewTracerProviderEndpoints(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	ctx := context.Background()
	for _, m := range []map[string]string{
		nil,
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318/"},
		{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
		{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"},
	} {
		tp, err := newTracerProvider(ctx, env(m))
		require.NoError(t, err, "%v", m)
		require.NoError(t, tp.Shutdown(ctx))
	}
	_, err := newTracerProvider(ctx, env(map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "carrier-pigeon"}))
	assert.ErrorContains(t, err, `unsupported OTEL_EXPORTER_OTLP_PROTOCOL "carrier-pigeon"`)
	_, err = newTracerProvider(ctx, env(map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "collector:4318"}))
	assert.ErrorContains(t, err, `OTLP endpoint "collector:4318": want an http:// or https:// URL`)
}

func TestTracingNoBroker(t *testing.T) {
	err := run(brokertest.Context(t, 5*time.Second), "amqp://127.0.0.1:1", noop.NewTracerProvider(), &strings.Builder{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "connecting to amqp://127.0.0.1:1")
}
