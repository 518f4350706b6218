// Tracing follows one message from a producer through Warren to a consumer with OpenTelemetry. The
// producer starts a "send" span and puts its W3C traceparent into the message's
// application-properties; Warren continues the trace with its own spans (receive, route, enqueue,
// deliver, settle) and writes its deliver span's traceparent into the delivery's
// message-annotations; the consumer reads it from there (falling back to the application-properties
// when the broker does not trace) and starts a "process" span as its child. One trace, three hops.
//
// Spans are exported over OTLP as the standard OTEL_* variables say (OTEL_EXPORTER_OTLP_ENDPOINT,
// OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_SERVICE_NAME…); with no endpoint set they go to a local Jaeger,
// http://127.0.0.1:4318. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/Azure/go-amqp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/warren-mq/warren/examples/internal/mgmt"
)

// The topology: a direct exchange and one queue bound to it.
const (
	exchange   = "tracing"
	routingKey = "order.created"
	queue      = "tracing.orders"
)

// The example's spans, named "{operation} {destination}" as the OpenTelemetry messaging semantic
// conventions ask, and its service and instrumentation scope.
const (
	sendSpan    = "send " + exchange + ":" + routingKey
	processSpan = "process " + queue
	serviceName = "warren-tracing-example"
	scopeName   = "github.com/warren-mq/warren/examples/tracing"
)

// The OTLP endpoints used when OTEL_EXPORTER_OTLP_ENDPOINT is not set: Jaeger on loopback.
const (
	defaultHTTPEndpoint = "http://127.0.0.1:4318/v1/traces"
	defaultGRPCEndpoint = "http://127.0.0.1:4317"
)

// traceContext is the W3C Trace Context propagator: the traceparent and tracestate fields, which the
// "Trace Context: AMQP" draft carries under the same names in an AMQP message.
var traceContext = propagation.TraceContext{}

func main() {
	url := flag.String("url", "amqp://localhost:5672", "AMQP 1.0 broker URL")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	tp, err := newTracerProvider(ctx, os.Getenv)
	if err == nil {
		err = run(ctx, *url, tp, os.Stdout)
		// Flush even after a failure: the spans show where it failed.
		flushCtx, flushCancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = errors.Join(err, tp.Shutdown(flushCtx))
		flushCancel()
	}
	cancel()
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tracing:", err)
		os.Exit(1)
	}
}

// newTracerProvider exports spans over OTLP. getenv supplies the protocol and the endpoint
// (OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL and _ENDPOINT; Jaeger on loopback when no endpoint is set); the
// SDK reads the rest from the process environment itself (OTEL_EXPORTER_OTLP_HEADERS and _TIMEOUT,
// OTEL_TRACES_SAMPLER, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_BSP_*).
func newTracerProvider(ctx context.Context, getenv func(string) string) (*sdktrace.TracerProvider, error) {
	perSignal := func(name string) string {
		if v := getenv("OTEL_EXPORTER_OTLP_TRACES_" + name); v != "" {
			return v
		}
		return getenv("OTEL_EXPORTER_OTLP_" + name)
	}
	protocol := perSignal("PROTOCOL")
	grpc := protocol == "grpc"
	if !grpc && protocol != "" && protocol != "http/protobuf" {
		return nil, fmt.Errorf("unsupported OTEL_EXPORTER_OTLP_PROTOCOL %q (want grpc or http/protobuf)", protocol)
	}
	endpoint := getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") // a full URL, used as is
	switch base := getenv("OTEL_EXPORTER_OTLP_ENDPOINT"); {
	case endpoint != "":
	case base != "" && grpc:
		endpoint = base
	case base != "":
		endpoint = strings.TrimSuffix(base, "/") + "/v1/traces" // a base URL: the signal's path is appended
	case grpc:
		endpoint = defaultGRPCEndpoint
	default:
		endpoint = defaultHTTPEndpoint
	}
	if !strings.HasPrefix(endpoint, "http://") && !strings.HasPrefix(endpoint, "https://") {
		return nil, fmt.Errorf("OTLP endpoint %q: want an http:// or https:// URL", endpoint)
	}

	var exporter *otlptrace.Exporter
	var err error
	if grpc {
		exporter, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(endpoint))
	} else {
		exporter, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
	}
	if err != nil {
		return nil, fmt.Errorf("OTLP exporter: %w", err)
	}
	// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (WithFromEnv, applied last) override the default.
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithAttributes(attribute.String("service.name", serviceName)),
		resource.WithFromEnv())
	if err != nil {
		return nil, errors.Join(fmt.Errorf("resource: %w", err), exporter.Shutdown(ctx))
	}
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res)), nil
}

// run declares the topology, sends one traced message and consumes it, printing the trace it joined.
// Spans go to tp; the caller flushes it.
func run(ctx context.Context, url string, tp trace.TracerProvider, out io.Writer) (err error) {
	tracer := tp.Tracer(scopeName)
	conn, err := amqp.Dial(ctx, url, nil)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", url, err)
	}
	defer func() { err = errors.Join(err, conn.Close()) }()
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		return err
	}
	if err := declare(ctx, sess); err != nil {
		return err
	}

	snd, err := sess.NewSender(ctx, mgmt.ExchangeAddress(exchange, routingKey), nil)
	if err != nil {
		return err
	}
	sent, err := send(ctx, tracer, snd, "order 1")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "sent %q to %s in trace %s (span %s)\n", "order 1", snd.Address(), sent.TraceID(), sent.SpanID())

	rcv, err := sess.NewReceiver(ctx, mgmt.QueueAddress(queue), nil)
	if err != nil {
		return err
	}
	return consume(ctx, tracer, rcv, out)
}

// declare creates the exchange and the queue, binds them, and empties the queue of anything an
// earlier, interrupted run left behind.
func declare(ctx context.Context, sess *amqp.Session) error {
	m, err := mgmt.New(ctx, sess)
	if err != nil {
		return err
	}
	if err := m.DeclareExchange(ctx, exchange, "direct", mgmt.ExchangeOptions{Durable: true}); err != nil {
		return err
	}
	if _, err := m.DeclareQueue(ctx, queue, mgmt.QueueOptions{Durable: true}); err != nil {
		return err
	}
	if err := m.Bind(ctx, exchange, queue, routingKey); err != nil {
		return err
	}
	if _, err := m.PurgeQueue(ctx, queue); err != nil {
		return err
	}
	return m.Close(ctx)
}

// send publishes body inside a producer span whose context travels in the application-properties
// (the producer's part of the bare message, which no broker may change). It returns the span's context.
func send(ctx context.Context, tracer trace.Tracer, snd *amqp.Sender, body string) (trace.SpanContext, error) {
	ctx, span := tracer.Start(ctx, sendSpan, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(messagingAttributes("send", exchange+":"+routingKey)...))
	defer span.End()

	msg := amqp.NewMessage([]byte(body))
	msg.Properties = &amqp.MessageProperties{MessageID: "order-1"}
	msg.ApplicationProperties = map[string]any{}
	traceContext.Inject(ctx, applicationProperties(msg.ApplicationProperties))
	// An unsettled transfer: Send returns once the broker has settled it accepted, that is once the
	// queue holds the message.
	if err := snd.Send(ctx, msg, nil); err != nil {
		span.RecordError(err)
		return trace.SpanContext{}, fmt.Errorf("sending: %w", err)
	}
	return span.SpanContext(), nil
}

// consume receives one message and processes it inside a consumer span, the child of the span that
// delivered it.
func consume(ctx context.Context, tracer trace.Tracer, rcv *amqp.Receiver, out io.Writer) error {
	msg, err := rcv.Receive(ctx, nil)
	if err != nil {
		return fmt.Errorf("receiving: %w", err)
	}
	parent, from := extract(ctx, msg)
	ctx, span := tracer.Start(parent, processSpan, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(messagingAttributes("process", queue)...))
	defer span.End()

	remote := trace.SpanContextFromContext(parent)
	fmt.Fprintf(out, "received %q from %s: parent span %s from the %s\n", msg.GetData(), rcv.Address(), remote.SpanID(), from)
	if err := rcv.AcceptMessage(ctx, msg); err != nil {
		span.RecordError(err)
		return fmt.Errorf("accepting: %w", err)
	}
	sc := span.SpanContext()
	fmt.Fprintf(out, "processed it in trace %s (span %s)\n", sc.TraceID(), sc.SpanID())
	return nil
}

// extract returns ctx with the remote span context of msg and where it came from: the
// message-annotations, where a broker writes its own span (the AMQP draft's intermediary case), else
// the application-properties the producer wrote.
func extract(ctx context.Context, msg *amqp.Message) (context.Context, string) {
	if c := traceContext.Extract(ctx, annotations(msg.Annotations)); trace.SpanContextFromContext(c).IsValid() {
		return c, "message-annotations"
	}
	if c := traceContext.Extract(ctx, applicationProperties(msg.ApplicationProperties)); trace.SpanContextFromContext(c).IsValid() {
		return c, "application-properties"
	}
	return ctx, "nowhere (a new trace)"
}

func messagingAttributes(operation, destination string) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String("messaging.system", "warren"),
		attribute.String("messaging.operation.name", operation),
		attribute.String("messaging.operation.type", operation),
		attribute.String("messaging.destination.name", destination),
	}
}

// applicationProperties carries the trace context in a message's application-properties: string keys,
// string values.
type applicationProperties map[string]any

func (p applicationProperties) Get(key string) string { return text(p[key]) }

func (p applicationProperties) Set(key, value string) { p[key] = value }

func (p applicationProperties) Keys() []string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	return keys
}

// annotations reads the trace context from a message's message-annotations. go-amqp decodes their
// symbol keys as strings; the draft allows the traceparent as a string or as binary holding its text.
type annotations amqp.Annotations

func (a annotations) Get(key string) string { return text(a[key]) }

// Set completes propagation.TextMapCarrier; this example never calls it: its producer writes the
// application-properties, and the message-annotations are where intermediaries annotate a message
// (AMQP 1.0 §3.2.3).
func (a annotations) Set(key, value string) { a[key] = value }

func (a annotations) Keys() []string {
	keys := make([]string, 0, len(a))
	for k := range a {
		if s, ok := k.(string); ok {
			keys = append(keys, s)
		}
	}
	return keys
}

func text(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return strings.TrimSpace(string(v))
	}
	return ""
}
