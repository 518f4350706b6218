package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// messaging.operation.type values of the OpenTelemetry messaging semantic
// conventions.
const (
	OpCreate  = "create"
	OpSend    = "send"
	OpReceive = "receive"
	OpProcess = "process"
	OpSettle  = "settle"
)

// SystemName is the messaging.system attribute of Warren's spans.
const SystemName = "warren"

// Attribute keys of the OpenTelemetry messaging semantic conventions.
const (
	AttrMessagingSystem      = attribute.Key("messaging.system")
	AttrOperationName        = attribute.Key("messaging.operation.name")
	AttrOperationType        = attribute.Key("messaging.operation.type")
	AttrDestinationName      = attribute.Key("messaging.destination.name")
	AttrRoutingKey           = attribute.Key("messaging.rabbitmq.destination.routing_key")
	AttrMessageID            = attribute.Key("messaging.message.id")
	AttrConversationID       = attribute.Key("messaging.message.conversation_id")
	AttrBodySize             = attribute.Key("messaging.message.body.size")
	AttrClientID             = attribute.Key("messaging.client.id")
	AttrNetworkPeerAddress   = attribute.Key("network.peer.address")
	AttrErrorType            = attribute.Key("error.type")
	maxMessageSpanAttributes = 10
)

// MessageInfo describes the message and peer of a span. Empty strings and a
// zero BodySize are left out of the span's attributes.
type MessageInfo struct {
	MessageID      string // messaging.message.id
	ConversationID string // messaging.message.conversation_id (the correlation-id)
	BodySize       int    // messaging.message.body.size
	RoutingKey     string // messaging.rabbitmq.destination.routing_key
	ClientID       string // messaging.client.id (the peer's container-id)
	PeerAddress    string // network.peer.address
}

// noopSpan is returned when tracing is off; boxing it once keeps StartSpan
// allocation-free.
var noopSpan trace.Span = tracenoop.Span{}

// StartSpan starts the span of one messaging operation, named
// "{operation} {destination}" with the attributes of the messaging semantic
// conventions. opType is one of the Op* constants and sets the span kind:
// create and send are producer spans, receive and process consumer spans,
// settle a client span. When tracing is off it returns ctx unchanged and a
// no-op span, without allocating. It is BeginSpan, then DescribeSpan when the
// span records.
func (t *Telemetry) StartSpan(ctx context.Context, operation, opType, destination string, info MessageInfo) (context.Context, trace.Span) {
	ctx, span := t.BeginSpan(ctx, operation, opType)
	if span.IsRecording() {
		DescribeSpan(span, operation, opType, destination, info)
	}
	return ctx, span
}

// BeginSpan starts a messaging span named after its operation only; a
// caller whose MessageInfo costs something to build gives it to DescribeSpan
// when the span records. An unsampled span (the parent's decision, or the
// ratio sampler's; neither looks at names or attributes) then costs no name,
// no attributes and no MessageInfo.
func (t *Telemetry) BeginSpan(ctx context.Context, operation, opType string) (context.Context, trace.Span) {
	if t == nil || !t.TracingEnabled {
		return ctx, noopSpan
	}
	return t.Tracer.Start(ctx, operation, trace.WithSpanKind(spanKind(opType)))
}

// DescribeSpan names a span started by BeginSpan "{operation} {destination}"
// and sets the messaging attributes of info.
func DescribeSpan(span trace.Span, operation, opType, destination string, info MessageInfo) {
	var buf [maxMessageSpanAttributes]attribute.KeyValue
	attrs := append(buf[:0],
		AttrMessagingSystem.String(SystemName),
		AttrOperationName.String(operation),
		AttrOperationType.String(opType))
	if destination != "" {
		span.SetName(operation + " " + destination)
		attrs = append(attrs, AttrDestinationName.String(destination))
	}
	if info.RoutingKey != "" {
		attrs = append(attrs, AttrRoutingKey.String(info.RoutingKey))
	}
	if info.MessageID != "" {
		attrs = append(attrs, AttrMessageID.String(info.MessageID))
	}
	if info.ConversationID != "" {
		attrs = append(attrs, AttrConversationID.String(info.ConversationID))
	}
	if info.BodySize > 0 {
		attrs = append(attrs, AttrBodySize.Int(info.BodySize))
	}
	if info.ClientID != "" {
		attrs = append(attrs, AttrClientID.String(info.ClientID))
	}
	if info.PeerAddress != "" {
		attrs = append(attrs, AttrNetworkPeerAddress.String(info.PeerAddress))
	}
	span.SetAttributes(attrs...)
}

func spanKind(opType string) trace.SpanKind {
	switch opType {
	case OpCreate, OpSend:
		return trace.SpanKindProducer
	case OpReceive, OpProcess:
		return trace.SpanKindConsumer
	case OpSettle:
		return trace.SpanKindClient
	default:
		return trace.SpanKindInternal
	}
}

// SetError marks span as failed: error.type is the AMQP error condition (for
// example "amqp:not-found") and description the error's text. It does nothing
// on a span that is not recording.
func SetError(span trace.Span, errorType, description string) {
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(AttrErrorType.String(errorType))
	span.SetStatus(codes.Error, description)
}
