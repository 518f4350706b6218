package actors

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"

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
	info.MessageID = messageIDString(m.Properties.MessageID)
	info.ConversationID = messageIDString(m.Properties.CorrelationID)
	return info
}

// info is messageInfo of a broker message.
func (msg *message) info() telemetry.MessageInfo {
	p := msg.properties()
	return telemetry.MessageInfo{BodySize: msg.bodySize(), RoutingKey: msg.routingKey,
		MessageID: messageIDString(p.MessageID), ConversationID: messageIDString(p.CorrelationID)}
}

// messageIDString renders a message-id or correlation-id (spec 3.2.4: ulong, uuid, binary or string)
// as span attributes show them: a uuid in its canonical 8-4-4-4-12 form, binary in hex; "" for none.
func messageIDString(id any) string {
	switch v := id.(type) {
	case nil:
		return ""
	case string:
		return v
	case protocol.UUID:
		h := hex.EncodeToString(v[:])
		return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
	case []byte:
		return hex.EncodeToString(v)
	case uint64:
		return strconv.FormatUint(v, 10)
	}
	return fmt.Sprint(id)
}

// spanReceive starts and ends the receive span of a published message: a child of the producer's span
// when the message carries a traceparent (message-annotations first, then application-properties).
func (b *Broker) spanReceive(m *protocol.Message, exchange, key, clientID, peer string) trace.SpanContext {
	if !b.tracing() {
		return trace.SpanContext{}
	}
	parent := telemetry.Extract(bg, m.MessageAnnotations, m.ApplicationProperties)
	_, span := b.tel.BeginSpan(parent, "receive", telemetry.OpReceive)
	if span.IsRecording() { // an unsampled message costs no name, attributes or message info
		info := messageInfo(m, key)
		info.ClientID, info.PeerAddress = clientID, peer
		telemetry.DescribeSpan(span, "receive", telemetry.OpReceive, exchange+":"+key, info)
	}
	sc := span.SpanContext()
	span.End()
	return sc
}

// spanHop starts a child span of parent and returns it; the caller ends it.
func (b *Broker) spanHop(parent trace.SpanContext, op, opType, dest string, msg *message) trace.Span {
	ctx := trace.ContextWithSpanContext(bg, parent)
	_, span := b.tel.BeginSpan(ctx, op, opType)
	if span.IsRecording() {
		telemetry.DescribeSpan(span, op, opType, dest, msg.info())
	}
	return span
}

// hopParent is the span a hop continues: the one its actor message carries or, when the carrier has
// none (tracing on, every publish gets a receive span, so the context was lost on the way: a message
// paged to disk and read back, recovered after a restart, or refused by a full queue before it had an
// enqueue span), the producer's own context in the message itself, so the hop still joins the
// producer's trace. Without either it stays invalid and the hop records nothing.
func hopParent(sc trace.SpanContext, msg *message) trace.SpanContext {
	if sc.IsValid() || msg == nil {
		return sc
	}
	return trace.SpanContextFromContext(telemetry.Extract(bg, msg.ma, msg.ap))
}

// spanChild starts and ends a child span and returns its context (or parent's when tracing is off).
func (b *Broker) spanChild(parent trace.SpanContext, op, opType, dest string, msg *message, attrs ...attribute.KeyValue) trace.SpanContext {
	if !b.tracing() {
		return parent
	}
	if parent = hopParent(parent, msg); !parent.IsSampled() {
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
	if !b.tracing() {
		return
	}
	if parent = hopParent(parent, msg); !parent.IsSampled() {
		return
	}
	span := b.spanHop(parent, op, telemetry.OpProcess, dest, msg)
	span.SetAttributes(attribute.String("warren.reason", reason))
	span.End()
}

// spanSettle records the consumer's settlement with its outcome; error.type on rejection.
// A rejection's error.type is the AMQP condition the consumer gave (DESIGN.md §7), "rejected" without one.
func (b *Broker) spanSettle(parent trace.SpanContext, queue string, msg *message, s settlement) {
	if !b.tracing() || !parent.IsSampled() {
		return
	}
	span := b.spanHop(parent, "settle", telemetry.OpSettle, queue, msg)
	span.SetAttributes(attribute.String("warren.outcome", s.outcome.String()))
	if s.outcome == outcomeDeadLetter {
		cond, desc := "rejected", "rejected by the consumer"
		if s.reason != nil {
			cond, desc = string(s.reason.Condition), s.reason.Description
		}
		telemetry.SetError(span, cond, desc)
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
