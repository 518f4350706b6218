package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/warren-mq/warren/protocol"
	"go.opentelemetry.io/otel/trace"
)

// message is one published message, immutable once built and shared by every queue it is routed to.
// The encoded bytes are kept as received; only the routing and settlement fields are decoded
// (DESIGN.md §1: the body is opaque to the broker).
type message struct {
	raw        []byte
	m          protocol.Message // spans into raw, plus the decoded header/properties/annotations
	exchange   string
	routingKey string
	// annotations are the message-annotations added on every delivery (x-exchange, x-routing-key),
	// built once per message rather than per delivery.
	annotations protocol.Map
	arrived     time.Time
}

// newMessage builds a message; ann (nil = none) is the caller's cache of delivery annotations.
func newMessage(raw []byte, m *protocol.Message, exchange, routingKey string, now time.Time, ann *routeAnnotations) *message {
	return &message{raw: raw, m: *m, exchange: exchange, routingKey: routingKey, arrived: now,
		annotations: ann.get(exchange, routingKey)}
}

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
	deliveryCount uint32
	firstAcquirer bool
	annotations   protocol.Map // when set (a traced delivery), replaces msg.annotations
}

type deliveryBatch struct {
	queue *actor.PID
	items []delivery
}

// drained: the queue had nothing more for a draining consumer and advanced its count to count.
type drained struct{ count uint32 }

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
