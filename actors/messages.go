package actors

import (
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/warren-mq/warren/protocol"
	"go.opentelemetry.io/otel/trace"
)

// message is one published message, immutable once built (but for the entry it lends its first queue)
// and shared by every queue it is routed to.
// The encoded bytes are kept as received; only the routing and settlement fields are decoded
// (DESIGN.md §1: the body is opaque to the broker).
//
// It is the compact form of a parsed protocol.Message: the section offsets as 32-bit numbers and the
// properties behind a pointer (nil for a message without a properties section, the usual case), so a
// message costs ~300 bytes of heap, not the ~640 of a protocol.Message. parsed rebuilds the full value
// (on the stack) for the codec.
type message struct {
	messageData
	// entry is the queue entry of the first queue that holds the message (claimed set atomically:
	// fanout hands one message to several queue actors at once). A message routed to one queue, the
	// usual case, so costs one allocation with its entry instead of two; other queues allocate theirs.
	// The entry lives exactly as long as the message, so nothing is kept longer than before. It is
	// written by the queue actor that claimed it, so nothing else may read or copy it (rerouted
	// copies messageData only: an extension may reroute a message that a queue holds).
	entry   qentry
	claimed uint32
}

// messageData is the message without its lent entry: written once, before the message is shared.
type messageData struct {
	raw        []byte
	spans      [7]span32 // header, delivery-annotations, message-annotations, properties, application-properties, body, footer
	header     protocol.Header
	hasHeader  bool
	props      *protocol.Properties // nil: no properties section
	ma, ap     protocol.Map         // message-annotations, application-properties (decoded)
	exchange   string
	routingKey string
	// annotations are the message-annotations added on every delivery (x-exchange, x-routing-key),
	// built once per message rather than per delivery.
	annotations protocol.Map
	arrived     time.Time
}

// newEntry returns a zeroed queue entry for msg: its embedded one if no queue took that yet.
func (msg *message) newEntry() *qentry {
	if atomic.CompareAndSwapUint32(&msg.claimed, 0, 1) {
		return &msg.entry
	}
	return new(qentry)
}

// span32 is a protocol.Span in 32 bits a side (a message is far below 4 GiB: max-message-size).
type span32 struct{ start, end uint32 }

// newMessage builds a message from raw and its parse m; ann (nil = none) is the caller's cache of
// delivery annotations.
func newMessage(raw []byte, m *protocol.Message, exchange, routingKey string, now time.Time, ann *routeAnnotations) *message {
	msg := &message{messageData: messageData{raw: raw, header: m.Header, hasHeader: m.HasHeader, ma: m.MessageAnnotations,
		ap: m.ApplicationProperties, exchange: exchange, routingKey: routingKey, arrived: now,
		annotations: ann.get(exchange, routingKey)}}
	for i, s := range [...]protocol.Span{m.HeaderSpan, m.DeliveryAnnotationsSpan, m.MessageAnnotationsSpan, m.PropertiesSpan,
		m.ApplicationPropertiesSpan, m.BodySpan, m.FooterSpan} {
		msg.spans[i] = span32{uint32(s.Start), uint32(s.End)}
	}
	if m.PropertiesSpan.Present() {
		p := m.Properties
		msg.props = &p
	}
	return msg
}

// rerouted is msg with another exchange and routing key (the relay resolved its `to`): a new message,
// in no queue yet. msg may be in a queue already, whose actor may be writing msg's entry meanwhile,
// so only messageData is copied.
func (msg *message) rerouted(exchange, routingKey string, ann *routeAnnotations) *message {
	c := &message{messageData: msg.messageData}
	c.exchange, c.routingKey, c.annotations = exchange, routingKey, ann.get(exchange, routingKey)
	return c
}

// parsed is the message as protocol.Message, for the codec (AppendMessageForDelivery) and readers.
func (msg *message) parsed() protocol.Message {
	sp := func(i int) protocol.Span {
		return protocol.Span{Start: int(msg.spans[i].start), End: int(msg.spans[i].end)}
	}
	m := protocol.Message{Raw: msg.raw, HeaderSpan: sp(0), DeliveryAnnotationsSpan: sp(1), MessageAnnotationsSpan: sp(2),
		PropertiesSpan: sp(3), ApplicationPropertiesSpan: sp(4), BodySpan: sp(5), FooterSpan: sp(6),
		Header: msg.header, HasHeader: msg.hasHeader, MessageAnnotations: msg.ma, ApplicationProperties: msg.ap}
	if msg.props != nil {
		m.Properties = *msg.props
	}
	return m
}

// properties are the message's properties (zero when it has none); read them, never modify them.
func (msg *message) properties() *protocol.Properties {
	if msg.props == nil {
		return &noProperties
	}
	return msg.props
}

var noProperties protocol.Properties

// bodySize is the size of the encoded body sections.
func (msg *message) bodySize() int { return int(msg.spans[5].end) - int(msg.spans[5].start) }

// routeAnnotations caches the x-exchange/x-routing-key annotations of the last (exchange, routing-key)
// pair an actor built a message for: a producer link publishes to one pair nearly always, so its
// messages share one Map instead of each building its own (three allocations). The Map is never
// modified once built (telemetry.InjectInto copies it).
type routeAnnotations struct {
	exchange, key string
	m             protocol.Map
}

func (c *routeAnnotations) get(exchange, key string) protocol.Map {
	if c != nil && c.m != nil && c.exchange == exchange && c.key == key {
		return c.m
	}
	m := protocol.Map{
		{Key: protocol.Symbol("x-exchange"), Value: exchange},
		{Key: protocol.Symbol("x-routing-key"), Value: key},
	}
	if c != nil {
		c.exchange, c.key, c.m = exchange, key, m
	}
	return m
}

// size is what x-max-length-bytes counts: the message as encoded.
func (m *message) size() int { return len(m.raw) }

// --- frames from the reader goroutine --------------------------------------------------------------

type inFrame struct {
	channel uint16
	perf    protocol.Performative
	payload []byte // transfers only: an owned copy
}

// inFrames is one socket read's worth of decoded frames (a plain struct, not actor.MessageBatch).
type inFrames struct{ frames []inFrame }

// connFailed reports the end of the read side: a peer fault to answer with close(err), or a lost socket.
type connFailed struct {
	err  *protocol.Error
	lost bool
}

// forceClose asks a connection to close with amqp:connection:forced (broker shutdown, management).
type forceClose struct{ reason string }

// sessionFrames carries one read burst's frames for one session.
type sessionFrames struct{ frames []inFrame }

// --- publishing: receiver link → exchange → queue, confirmations back to the link ---------------------

// publishRef identifies a publish that wants confirmation; link == nil means pre-settled (no replies).
type publishRef struct {
	link *actor.PID
	seq  uint64
}

type publish struct {
	msg     *message
	ref     publishRef
	visited []string          // exchanges already passed, against exchange-to-exchange binding cycles
	span    trace.SpanContext // the last hop's span (receive, then route): the parent of the next
}

// publishBatch goes to an exchange actor.
type publishBatch struct{ items []publish }

// enqueueBatch goes to a queue actor.
type enqueueBatch struct{ items []publish }

// confirm adjusts a pending publish: outstanding += delta, queued += queued; err marks a refusal.
// An exchange that routes one unit to k destinations sends delta k-1; a queue that stored it sends
// delta -1, queued 1. When outstanding reaches 0 the link settles the delivery.
type confirm struct {
	seq    uint64
	delta  int
	queued int
	err    *protocol.Error
}

type confirmBatch struct{ items []confirm }

// --- consuming: queue → sender link → session, settlement back ---------------------------------------

type addConsumer struct {
	link       *actor.PID
	presettled bool   // the link sends settled: the queue forgets a message once delivered
	count      uint32 // the link's initial delivery-count (the queue counts sent messages from it)
	client     string // the consumer's container-id
	peer       string // and network address
}

type addConsumerResult struct{ err *protocol.Error }

type removeConsumer struct{ link *actor.PID }

// consumerCredit says the consumer may have messages until the queue's count for it reaches limit
// (the link's delivery-count + link-credit, spec 2.6.7), draining if asked.
type consumerCredit struct {
	link  *actor.PID
	limit uint32
	drain bool
}

type delivery struct {
	qid           uint64
	msg           *message
	annotations   protocol.Map // when set (a traced delivery), replaces msg.annotations
	deliveryCount uint32
	drains        uint32 // the consumer's drains when it was sent (queue.withhold)
	firstAcquirer bool
}

type deliveryBatch struct {
	queue *actor.PID
	items []delivery
}

// drained: the queue had nothing more for a draining consumer and advanced its count to count.
type drained struct{ count uint32 }

// toConsumer carries what a queue sends a consumer link (deliveryBatch, drained, queueGone) through the
// queue's delivery interceptor, which passes it on to link.
type toConsumer struct {
	link *actor.PID
	msg  any
}

// withheld: a delivery interceptor kept these deliveries from the consumer link; the queue settles
// them with their outcomes.
type withheld struct {
	link  *actor.PID
	items []withheldItem
}

type withheldItem struct {
	qid     uint64
	drains  uint32
	outcome outcomeKind
}

// queueGone tells a consumer its queue was deleted (it detaches with amqp:resource-deleted).
type queueGone struct {
	queue  string
	reason *protocol.Error
}

type outcomeKind uint8

const (
	outcomeAccepted   outcomeKind = iota
	outcomeReleased               // back to the head, delivery-count unchanged
	outcomeFailed                 // modified{delivery-failed}: back to the head, delivery-count+1
	outcomeDeadLetter             // rejected or modified{undeliverable-here}: dead-letter or drop
)

type settlement struct {
	link    *actor.PID // the consumer link the delivery went to (a session's links may share a queue)
	qid     uint64
	outcome outcomeKind
	// annotations to merge for modified{message-annotations} (may be nil)
	annotations protocol.Map
	reason      *protocol.Error // a rejected outcome's error, when the consumer gave one
}

// settleBatch carries a session's outcomes to one queue.
type settleBatch struct{ items []settlement }
