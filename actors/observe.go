package actors

import (
	"context"
	"fmt"

	"github.com/warren-mq/warren/protocol"
	"github.com/warren-mq/warren/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Tracing (DESIGN.md §7): one span per hop — receive from the producer, route at the exchange, enqueue
// per queue, deliver to the consumer, settle — parent-linked into the producer's trace. The span
// context travels inside the actor messages (publish.span, qentry.span, unacked deliveries), never in
// a map keyed by PID. With tracing off every helper here returns at its first line: the hot path pays a
// bool check.

// bg is the context spans start from; the parent comes from the span context carried in messages.
var bg = context.Background()

func (b *Broker) tracing() bool { return b.tel.TracingEnabled }

func messageInfo(m *protocol.Message, key string) telemetry.MessageInfo {
	info := telemetry.MessageInfo{BodySize: m.BodySpan.End - m.BodySpan.Start, RoutingKey: key}
	if id := m.Properties.MessageID; id != nil {
		info.MessageID = fmt.Sprint(id)
	}
	if id := m.Properties.CorrelationID; id != nil {
		info.ConversationID = fmt.Sprint(id)
	}
	return info
}

// spanReceive starts and ends the receive span of a published message: a child of the producer's span
// when the message carries a traceparent (message-annotations first, then application-properties).
func (b *Broker) spanReceive(m *protocol.Message, exchange, key, clientID, peer string) trace.SpanContext {
	if !b.tracing() {
		return trace.SpanContext{}
	}
	parent := telemetry.Extract(bg, m.MessageAnnotations, m.ApplicationProperties)
	info := messageInfo(m, key)
	info.ClientID, info.PeerAddress = clientID, peer
	_, span := b.tel.StartSpan(parent, "receive", telemetry.OpReceive, exchange+":"+key, info)
	sc := span.SpanContext()
	span.End()
	return sc
}

// spanHop starts a child span of parent and returns it; the caller ends it.
func (b *Broker) spanHop(parent trace.SpanContext, op, opType, dest string, msg *message) trace.Span {
	ctx := trace.ContextWithSpanContext(bg, parent)
	_, span := b.tel.StartSpan(ctx, op, opType, dest, messageInfo(&msg.m, msg.routingKey))
	return span
}

// spanChild starts and ends a child span and returns its context (or parent's when tracing is off).
func (b *Broker) spanChild(parent trace.SpanContext, op, opType, dest string, msg *message, attrs ...attribute.KeyValue) trace.SpanContext {
	if !b.tracing() || !parent.IsSampled() {
		return parent // an unsampled trace gets no broker spans: its context passes through unchanged
	}
	span := b.spanHop(parent, op, opType, dest, msg)
	span.SetAttributes(attrs...)
	sc := span.SpanContext()
	span.End()
	return sc
}

// deliveryAnnotations are the message-annotations a delivery carries: x-exchange and x-routing-key,
// plus, when traced, the deliver span's traceparent/tracestate so the consumer joins the trace.
func deliveryAnnotations(msg *message, deliver trace.SpanContext) protocol.Map {
	if !deliver.IsSampled() {
		return msg.annotations // the producer's own traceparent (if any) still reaches the consumer
	}
	return telemetry.InjectInto(trace.ContextWithSpanContext(bg, deliver), msg.annotations)
}

// spanEvent records an instantaneous hop (dead-lettering, expiry) as a short span in the trace.
func (b *Broker) spanEvent(parent trace.SpanContext, op, dest string, msg *message, reason string) {
	if !b.tracing() || !parent.IsSampled() {
		return
	}
	span := b.spanHop(parent, op, telemetry.OpProcess, dest, msg)
	span.SetAttributes(attribute.String("warren.reason", reason))
	span.End()
}

// spanSettle records the consumer's settlement with its outcome; error.type on rejection.
func (b *Broker) spanSettle(parent trace.SpanContext, queue string, msg *message, outcome outcomeKind) {
	if !b.tracing() || !parent.IsSampled() {
		return
	}
	span := b.spanHop(parent, "settle", telemetry.OpSettle, queue, msg)
	span.SetAttributes(attribute.String("warren.outcome", outcome.String()))
	if outcome == outcomeDeadLetter {
		telemetry.SetError(span, "rejected", "rejected by the consumer")
	}
	span.End()
}

func (o outcomeKind) String() string {
	switch o {
	case outcomeAccepted:
		return "accepted"
	case outcomeReleased:
		return "released"
	case outcomeFailed:
		return "modified"
	}
	return "rejected"
}
