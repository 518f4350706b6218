package actors

import (
	"log/slog"
	"sort"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/warren-mq/warren/actors/store"
	"github.com/warren-mq/warren/protocol"
	"github.com/warren-mq/warren/protocol/serial"
	"github.com/warren-mq/warren/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// queue is the actor of one queue: a FIFO of messages, its consumers with their credit, and the
// deliveries they have not settled yet (DESIGN.md §4). Messages live in memory here; the store slots in
// under ready/unacked (the durability work).
type queue struct {
	b     *Broker
	vhost *actor.PID
	spec  queueSpec
	log   *slog.Logger

	ready      []*qentry // ready[head:] is the queue, ordered by qid
	head       int
	readyBytes int64
	unacked    map[uint64]unackedEntry
	consumers  []*consumerState
	rr         int
	nextQID    uint64

	vname  string
	labels *telemetry.Labels
	// gauges for /metrics, read at scrape time from another goroutine
	gaugeMessages, gaugeConsumers atomic.Int64

	ops        []store.Op       // store updates of the current Receive (flushed at its end)
	dlAnn      routeAnnotations // of the dead-lettered copies
	confirms   byPID[confirm]   // scratch of enqueue
	deliveries byPID[delivery]  // scratch of dispatch, by consumer link
	deliverVia *actor.PID       // the delivery interceptor in front of the consumers, nil = none
	recovered  bool
	// Paging (queues larger than memory): past `window` ready messages in RAM, a durable queue keeps
	// further durable messages only on disk (qid >= diskNext) and reads them back as the window drains;
	// transient messages arriving meanwhile wait in tail, merged back in qid order.
	window       int
	paged        int // durable ready messages on disk only
	pagedPending int // of those, how many are still being written
	diskNext     uint64
	tail         []*qentry
	// recoveredMax: the highest qid recovered from the store at start; a paged message at or below it
	// may have been delivered before the restart (first-acquirer false)
	recoveredMax uint64

	hadConsumer bool
	lastUsed    time.Time
	ttlTimer    *time.Timer
	ttlAt       int64
	idleTimer   *time.Timer
	deleted     bool
}

type qentry struct {
	qid           uint64
	msg           *message
	deliveryCount uint32
	acquired      bool              // delivered at least once: first-acquirer is false from then on
	expiresAt     int64             // unix ms; 0 = never
	span          trace.SpanContext // the enqueue span: parent of deliveries and dead-lettering
	stored        bool              // on disk: a durable message in a durable queue
}

type unackedEntry struct {
	e    *qentry
	c    *consumerState
	at   int64             // when it was delivered, unix ns (the settle-latency metric)
	span trace.SpanContext // the deliver span: parent of the settle span
}

// queueKey names a queue across vhosts (the broker's index for gauges).
type queueKey struct{ vhost, name string }

type consumerState struct {
	link       *actor.PID
	presettled bool
	sent       uint32 // counts deliveries from the link's initial delivery-count
	limit      uint32 // the link's delivery-count + credit
	drain      bool
	client     string // the consumer's container-id and address, for the deliver span
	peer       string
	drains     uint32 // drains answered so far (deliveries carry it: see withhold)
}

func (c *consumerState) credit() uint32 {
	if d := serial.Diff(c.sent, c.limit); d > 0 {
		return uint32(d)
	}
	return 0
}

type queueDelete struct{ reason string }
type ttlTick struct{}
type idleTick struct{}

func newQueue(b *Broker, vhost *actor.PID, vname string, spec queueSpec) *queue {
	return &queue{b: b, vhost: vhost, spec: spec, log: b.log.With("queue", spec.name), vname: vname,
		labels: b.met.QueueLabels(vname, spec.name), unacked: map[uint64]unackedEntry{}, lastUsed: time.Now(),
		window: b.opts.Limits.QueueMemoryMessages}
}

func (q *queue) Receive(ctx actor.Context) {
	q.receive(ctx)
	if q.persistent() {
		q.flushOps(ctx)
	}
	q.gaugeMessages.Store(int64(q.length() + len(q.unacked)))
	q.gaugeConsumers.Store(int64(len(q.consumers)))
}

func (q *queue) receive(ctx actor.Context) {
	q.b.faults.Check(ctx.Self().Id, ctx.Message())
	switch m := ctx.Message().(type) {
	case *inspect:
		ctx.Respond(m.fn(q))
	case *actor.Started:
		q.recover()
		q.armIdle(ctx)
	case *storedBatch:
		q.pagedPending -= m.paged
		if m.err != nil {
			q.unstore(m.qids, m.paged, m.pagedBytes)
		}
		for link, cs := range m.confirms {
			if m.err != nil {
				for i := range cs {
					cs[i].queued, cs[i].err = 0, storeFailure(m.err)
				}
			}
			ctx.Send(link, &confirmBatch{items: cs})
		}
	case *enqueueBatch:
		q.enqueue(ctx, m.items)
		q.dispatch(ctx)
	case *addConsumer:
		if q.deleted {
			ctx.Respond(&addConsumerResult{err: notFound("queue", q.spec.name)})
			return
		}
		if q.consumer(m.link) == nil { // delivered again after a restart: register once
			q.consumers = append(q.consumers, &consumerState{link: m.link, presettled: m.presettled, sent: m.count, limit: m.count,
				client: m.client, peer: m.peer})
		}
		q.hadConsumer = true
		q.lastUsed = time.Now()
		ctx.Respond(&addConsumerResult{})
	case *consumerCredit:
		if c := q.consumer(m.link); c != nil {
			c.limit, c.drain = m.limit, m.drain
			q.dispatch(ctx)
		}
	case *settleBatch:
		q.settle(ctx, m)
		q.dispatch(ctx)
	case *withheld:
		q.withhold(ctx, m)
		q.dispatch(ctx)
	case *removeConsumer:
		q.removeConsumer(ctx, m.link)
	case *queueStats:
		ctx.Respond(&queueStatsReply{messages: q.length() + len(q.unacked), consumers: len(q.consumers)})
	case *queuePurge:
		// Purge removes the ready messages; deliveries awaiting settlement stay with their consumers (as RabbitMQ).
		n := q.length()
		for _, e := range q.ready[q.head:] {
			q.forget(e)
		}
		q.purgePaged()
		clear(q.ready)
		q.ready, q.head, q.readyBytes = q.ready[:0], 0, 0
		ctx.Respond(&queueStatsReply{messages: n, consumers: len(q.consumers)})
	case storeCaughtUp:
		q.dispatch(ctx)
	case *ttlTick:
		q.ttlTimer = nil
		q.expireHead(ctx, nowMillis())
		q.armTTL(ctx)
	case *idleTick:
		q.idleTimer = nil
		if len(q.consumers) == 0 && time.Since(q.lastUsed) >= time.Duration(q.spec.expires)*time.Millisecond {
			ctx.Send(q.vhost, &deleteQueue{name: q.spec.name, reason: "x-expires: unused"})
		} else {
			q.armIdle(ctx)
		}
	case *queueDelete:
		q.deleted = true
		if q.persistent() {
			q.ops = nil
			q.b.store.DropQueue(q.storeID(), func(error) {})
		}
		for _, c := range q.consumers {
			q.toConsumer(ctx, c.link, &queueGone{queue: q.spec.name, reason: &protocol.Error{Condition: protocol.ErrResourceDeleted,
				Description: "queue " + q.spec.name + " was deleted: " + m.reason}})
		}
		q.consumers = nil
		if q.deliverVia != nil {
			ctx.Send(q.deliverVia, &actor.PoisonPill{}) // after the queueGone it passes on
		}
		ctx.Stop(ctx.Self())
	case *actor.Stopped:
		if !q.deleted && !q.b.stopping.Load() {
			// Stopped without being deleted: its vhost restarted (or gave it up). Its consumers are told.
			for _, c := range q.consumers {
				// Straight to the link: an interceptor in the delivery path stops with the vhost too.
				ctx.Send(c.link, &queueGone{queue: q.spec.name, reason: &protocol.Error{Condition: protocol.ErrInternal,
					Description: "queue " + q.spec.name + " was stopped: its virtual host restarted"}})
			}
			if q.deliverVia != nil {
				ctx.Send(q.deliverVia, &actor.PoisonPill{})
			}
		}
		if q.ttlTimer != nil {
			q.ttlTimer.Stop()
		}
		if q.idleTimer != nil {
			q.idleTimer.Stop()
		}
	}
}

func (q *queue) consumer(link *actor.PID) *consumerState {
	for _, c := range q.consumers {
		if c.link.Equal(link) {
			return c
		}
	}
	return nil
}

// length is the number of ready messages: in memory, paged out to disk, and waiting in the tail.
func (q *queue) length() int { return len(q.ready) - q.head + q.paged + len(q.tail) }

// front is the head of the queue, read back from disk first when the window is empty (nil: none in
// memory yet — paged messages whose write is still in flight).
func (q *queue) front() *qentry {
	if q.head == len(q.ready) && (q.paged > 0 || len(q.tail) > 0) {
		q.refill()
	}
	if q.head == len(q.ready) {
		return nil
	}
	return q.ready[q.head]
}

// enqueue stores a batch and confirms it to the publishing links (DESIGN.md §4: accepted once held).
func (q *queue) enqueue(ctx actor.Context, items []publish) {
	confirms := &q.confirms
	var durable map[*actor.PID][]confirm // confirmed once the store has them on disk
	var puts []store.Op
	var qids []uint64
	pagedHere := 0
	var pagedBytes int64
	now := nowMillis()
	for _, p := range items {
		if q.full(p.msg) && q.spec.overflow != "drop-head" {
			// x-overflow reject-publish(-dlx): the newest message is refused.
			if p.ref.link != nil {
				confirms.add(p.ref.link, confirm{seq: p.ref.seq, delta: -1,
					err: &protocol.Error{Condition: protocol.ErrResourceLimitExceeded, Description: "queue " + q.spec.name + " is full (x-overflow " + q.spec.overflow + ")"}})
			}
			if q.spec.overflow == "reject-publish-dlx" {
				q.deadLetter(ctx, []*qentry{{msg: p.msg, deliveryCount: p.msg.header.DeliveryCount}}, "maxlen")
			}
			continue
		}
		q.nextQID++
		e := p.msg.newEntry()
		*e = qentry{qid: q.nextQID, msg: p.msg, deliveryCount: p.msg.header.DeliveryCount, expiresAt: q.expiry(p.msg, now), span: p.span}
		if q.b.tracing() {
			e.span = q.b.spanChild(p.span, "enqueue", telemetry.OpSend, q.spec.name, p.msg, attribute.Bool("warren.durable", q.spec.durable))
		}
		q.readyBytes += int64(p.msg.size())
		q.labels.Enqueued.Add(1)
		storedHere := q.persistent() && p.msg.header.Durable
		switch {
		case storedHere && (q.paged > 0 || len(q.ready)-q.head >= q.window):
			if q.paged == 0 {
				q.diskNext = e.qid // paging starts: this and every later durable message lives on disk
			}
			q.paged++
			q.pagedPending++
			pagedHere++
			pagedBytes += int64(p.msg.size())
		case q.paged > 0:
			q.tail = append(q.tail, e) // a transient message behind paged ones: kept in order
		default:
			q.ready = append(q.ready, e)
		}
		if storedHere {
			// DESIGN.md §4: a durable message is accepted only once it is on disk in every durable
			// queue it was routed to; the store shares one fsync among concurrent publishers.
			e.stored = true
			qids = append(qids, e.qid)
			puts = append(puts, store.Op{Kind: store.OpPut, Queue: q.storeID(), Seq: e.qid, Data: encodeStored(p.msg), DeliveryCount: e.deliveryCount})
			if p.ref.link != nil {
				if durable == nil {
					durable = map[*actor.PID][]confirm{}
				}
				durable[p.ref.link] = append(durable[p.ref.link], confirm{seq: p.ref.seq, delta: -1, queued: 1})
			}
		} else if p.ref.link != nil {
			confirms.add(p.ref.link, confirm{seq: p.ref.seq, delta: -1, queued: 1})
		}
		// x-overflow drop-head (the default): the oldest ready messages make room.
		var dropped []*qentry
		for q.over() && q.length() > 0 {
			e := q.popFront()
			if e == nil {
				break
			}
			dropped = append(dropped, e)
		}
		if len(dropped) > 0 {
			q.deadLetter(ctx, dropped, "maxlen")
		}
	}
	confirms.flush(func(link *actor.PID, cs []confirm) { ctx.Send(link, &confirmBatch{items: cs}) })
	if len(puts) > 0 {
		self, sys := ctx.Self(), ctx.ActorSystem()
		q.b.store.Submit(puts, func(err error) {
			sys.Root.Send(self, &storedBatch{confirms: durable, qids: qids, paged: pagedHere, pagedBytes: pagedBytes, err: err})
		})
	}
	q.armTTL(ctx)
}

func (q *queue) full(m *message) bool {
	return (q.spec.maxLength >= 0 && int64(q.length())+1 > q.spec.maxLength) ||
		(q.spec.maxBytes >= 0 && q.readyBytes+int64(m.size()) > q.spec.maxBytes)
}

func (q *queue) over() bool {
	return (q.spec.maxLength >= 0 && int64(q.length()) > q.spec.maxLength) ||
		(q.spec.maxBytes >= 0 && q.readyBytes > q.spec.maxBytes)
}

// expiry is the earlier of header.ttl and x-message-ttl, from arrival (spec 3.2.1, RabbitMQ).
func (q *queue) expiry(m *message, now int64) int64 {
	ttl := q.spec.messageTTL
	if t := m.header.TTL; t.Set && (ttl < 0 || int64(t.V) < ttl) {
		ttl = int64(t.V)
	}
	if ttl < 0 {
		return 0
	}
	return now + ttl
}

func (q *queue) popFront() *qentry {
	e := q.front()
	if e == nil {
		return nil
	}
	q.ready[q.head] = nil
	q.head++
	q.readyBytes -= int64(e.msg.size())
	if q.length() == 0 {
		q.readyBytes = 0 // recovered counts include the stored form's small prefix: no drift past empty
	}
	if q.head == len(q.ready) {
		q.ready, q.head = q.ready[:0], 0
	} else if q.head > 1024 && q.head > len(q.ready)/2 {
		n := copy(q.ready, q.ready[q.head:])
		clear(q.ready[n:])
		q.ready, q.head = q.ready[:n], 0
	}
	return e
}

// requeue puts a message back in qid order: released messages return to the head, in the order they
// were first enqueued (DESIGN.md §4).
func (q *queue) requeue(e *qentry) {
	q.readyBytes += int64(e.msg.size())
	rest := q.ready[q.head:]
	i := sort.Search(len(rest), func(i int) bool { return rest[i].qid > e.qid })
	if i == 0 && q.head > 0 {
		q.head--
		q.ready[q.head] = e
		return
	}
	q.ready = append(q.ready, nil)
	rest = q.ready[q.head:]
	copy(rest[i+1:], rest[i:])
	rest[i] = e
}

// dispatch hands ready messages to consumers with credit, one message at a time round-robin (fair by
// credit), one batch per consumer; then answers drains.
func (q *queue) dispatch(ctx actor.Context) {
	if len(q.consumers) == 0 {
		return
	}
	if q.persistent() && q.b.storeOps.holds(ctx.Self()) {
		// The store is far behind with settlements' updates: storeCaughtUp dispatches again. A drain
		// request waits for that too; expiry goes on.
		q.armTTL(ctx)
		return
	}
	batches := &q.deliveries
	sentAt := time.Now().UnixNano()
	now := sentAt / 1e6
	for q.length() > 0 {
		c := q.nextConsumer()
		if c == nil {
			break
		}
		e := q.popFront()
		if e == nil {
			break
		}
		if e.expiresAt != 0 && e.expiresAt <= now {
			q.deadLetter(ctx, []*qentry{e}, "expired")
			continue
		}
		if e.acquired {
			q.labels.Redelivered.Add(1)
		}
		q.labels.Delivered.Add(1)
		dsc := e.span
		if q.b.tracing() {
			dsc = q.b.spanChild(e.span, "deliver", telemetry.OpSend, q.spec.name, e.msg,
				attribute.Bool("warren.redelivered", e.acquired), attribute.Int("warren.delivery_count", int(e.deliveryCount)),
				telemetry.AttrClientID.String(c.client), telemetry.AttrNetworkPeerAddress.String(c.peer))
		}
		batches.add(c.link, delivery{qid: e.qid, msg: e.msg, deliveryCount: e.deliveryCount, firstAcquirer: !e.acquired,
			annotations: deliveryAnnotations(e.msg, dsc), drains: c.drains})
		e.acquired = true
		c.sent++
		if !c.presettled {
			q.unacked[e.qid] = unackedEntry{e: e, c: c, at: sentAt, span: dsc}
		} else {
			q.forget(e) // at-most-once: delivered means gone
		}
	}
	delivered := len(batches.groups) > 0
	batches.flush(func(link *actor.PID, ds []delivery) {
		q.toConsumer(ctx, link, &deliveryBatch{queue: ctx.Self(), items: ds})
	})
	for _, c := range q.consumers {
		if c.drain && (q.length() == 0 || c.credit() == 0) {
			// spec 2.6.7 drain: nothing more to send, so the remaining credit is used up.
			c.sent = c.limit
			c.drain = false
			c.drains++ // a delivery withheld from here on was covered by this drain (withhold)
			q.toConsumer(ctx, c.link, &drained{count: c.sent})
		}
	}
	if delivered {
		q.lastUsed = time.Now()
	}
	q.armTTL(ctx)
}

func (q *queue) nextConsumer() *consumerState {
	n := len(q.consumers)
	for i := 0; i < n; i++ {
		c := q.consumers[(q.rr+i)%n]
		if c.credit() > 0 {
			q.rr = (q.rr + i + 1) % n
			return c
		}
	}
	return nil
}

// settle applies a consumer's outcomes (DESIGN.md §4).
func (q *queue) settle(ctx actor.Context, m *settleBatch) {
	var dead []*qentry
	now := time.Now().UnixNano()
	for _, s := range m.items {
		u, ok := q.unacked[s.qid]
		if !ok || !u.c.link.Equal(s.link) {
			continue // already settled, or returned when its link went away
		}
		delete(q.unacked, s.qid)
		q.b.met.SettleLatency.Record(bg, float64(now-u.at)/1e9, q.labels.Record...)
		q.b.spanSettle(u.span, q.spec.name, u.e.msg, s)
		switch s.outcome {
		case outcomeAccepted:
			q.labels.Acknowledged.Add(1)
			q.forget(u.e)
		case outcomeReleased:
			q.labels.Released.Add(1)
			q.requeue(u.e)
		case outcomeFailed:
			q.labels.Released.Add(1)
			u.e.deliveryCount++
			if u.e.stored {
				q.ops = append(q.ops, store.Op{Kind: store.OpSetDeliveryCount, Queue: q.storeID(), Seq: u.e.qid, DeliveryCount: u.e.deliveryCount})
			}
			q.requeue(u.e)
		case outcomeDeadLetter:
			q.labels.Rejected.Add(1)
			dead = append(dead, u.e)
		}
	}
	if len(dead) > 0 {
		q.deadLetter(ctx, dead, "rejected")
	}
}

// toConsumer sends a consumer link what the queue has for it: deliveries, drained, queueGone — through
// the queue's delivery interceptor when it has one (extension_queue.go), in order.
func (q *queue) toConsumer(ctx actor.Context, link *actor.PID, m any) {
	if q.deliverVia != nil {
		ctx.Send(q.deliverVia, &toConsumer{link: link, msg: m})
		return
	}
	ctx.Send(link, m)
}

// withhold applies what a delivery interceptor decided for deliveries it did not pass on: they never
// reached the consumer, so they do not count against its credit (unless a drain has used that credit
// up since), and each gets its outcome as if the consumer had settled it.
func (q *queue) withhold(ctx actor.Context, m *withheld) {
	c := q.consumer(m.link)
	var dead []*qentry
	for _, w := range m.items {
		if c != nil && w.drains == c.drains {
			c.sent-- // serial arithmetic: the link never counted it
		}
		u, ok := q.unacked[w.qid]
		if !ok || !u.c.link.Equal(m.link) {
			continue // a pre-settled delivery (forgotten when sent), or returned with its link meanwhile
		}
		delete(q.unacked, w.qid)
		switch w.outcome {
		case outcomeAccepted:
			q.forget(u.e)
		case outcomeReleased:
			q.requeue(u.e)
		default:
			dead = append(dead, u.e)
		}
	}
	if len(dead) > 0 {
		q.deadLetter(ctx, dead, "rejected")
	}
}

// removeConsumer returns the consumer's unsettled deliveries to the queue (DESIGN.md §4) with their
// delivery-count unchanged and first-acquirer false, and applies auto-delete.
func (q *queue) removeConsumer(ctx actor.Context, link *actor.PID) {
	idx := -1
	for i, c := range q.consumers {
		if c.link.Equal(link) {
			idx = i
		}
	}
	if idx < 0 {
		return
	}
	c := q.consumers[idx]
	q.consumers = append(q.consumers[:idx], q.consumers[idx+1:]...)
	if q.rr >= len(q.consumers) {
		q.rr = 0
	}
	var back []*qentry
	for qid, u := range q.unacked {
		if u.c == c {
			delete(q.unacked, qid)
			back = append(back, u.e)
		}
	}
	sort.Slice(back, func(i, j int) bool { return back[i].qid < back[j].qid })
	for _, e := range back {
		q.requeue(e)
	}
	q.lastUsed = time.Now()
	if q.spec.autoDelete && q.hadConsumer && len(q.consumers) == 0 {
		ctx.Send(q.vhost, &deleteQueue{name: q.spec.name, reason: "auto-delete: its last consumer left"})
		return
	}
	q.dispatch(ctx)
	q.armIdle(ctx)
}

// deadLetter sends messages to the queue's dead-letter exchange, or drops them when it has none.
// The dead-lettered copy carries x-first-death-* message-annotations (RabbitMQ's names) and goes
// with the dead-letter routing key if one is set, else its own.
func (q *queue) deadLetter(ctx actor.Context, es []*qentry, reason string) {
	for _, e := range es {
		q.b.spanEvent(e.span, "dead-letter", q.spec.name, e.msg, reason)
		q.forget(e)
	}
	if !q.spec.hasDLX {
		return
	}
	q.b.met.DeadLettered.Add(bg, int64(len(es)), q.b.met.DeadLetterLabels(q.vname, q.spec.name, reason).Add...)
	items := make([]publish, 0, len(es))
	for _, e := range es {
		m := e.msg
		extra := protocol.Map{
			{Key: protocol.Symbol("x-first-death-reason"), Value: reason},
			{Key: protocol.Symbol("x-first-death-queue"), Value: q.spec.name},
			{Key: protocol.Symbol("x-first-death-exchange"), Value: m.exchange},
		}
		for _, kv := range extra {
			if _, ok := m.ma.Get(kv.Key); ok {
				extra = nil // an earlier death already named the first one
				break
			}
		}
		h := m.header
		orig := m.parsed()
		h.DeliveryCount = e.deliveryCount
		raw, err := protocol.AppendMessageForDelivery(nil, &orig, &h, extra)
		if err != nil {
			q.log.ErrorContext(trace.ContextWithSpanContext(bg, e.span), "dead-lettering: re-encoding failed", "err", err)
			continue
		}
		var pm protocol.Message
		if err := protocol.ParseMessage(raw, &pm); err != nil {
			q.log.ErrorContext(trace.ContextWithSpanContext(bg, e.span), "dead-lettering: re-parse failed", "err", err)
			continue
		}
		key := m.routingKey
		if q.spec.hasDLRK {
			key = q.spec.dlrk
		}
		items = append(items, publish{msg: newMessage(raw, &pm, q.spec.dlx, key, time.Now(), &q.dlAnn), span: e.span})
	}
	ctx.Send(q.vhost, &deadLetter{exchange: q.spec.dlx, items: items})
}

// expireHead drops expired messages at the head (RabbitMQ classic queues expire from the head).
func (q *queue) expireHead(ctx actor.Context, now int64) {
	var dead []*qentry
	for q.length() > 0 {
		e := q.front()
		if e == nil || e.expiresAt == 0 || e.expiresAt > now {
			break
		}
		dead = append(dead, q.popFront())
	}
	if len(dead) > 0 {
		q.deadLetter(ctx, dead, "expired")
	}
}

// armTTL keeps one timer for the head's expiry, so expired messages leave even without consumers.
func (q *queue) armTTL(ctx actor.Context) {
	if q.head == len(q.ready) || q.deleted {
		return
	}
	at := q.ready[q.head].expiresAt
	if at == 0 || (q.ttlTimer != nil && q.ttlAt <= at) {
		return
	}
	if q.ttlTimer != nil {
		q.ttlTimer.Stop()
	}
	self, sys := ctx.Self(), ctx.ActorSystem()
	q.ttlAt = at
	q.ttlTimer = time.AfterFunc(time.Duration(at-nowMillis())*time.Millisecond, func() { sys.Root.Send(self, &ttlTick{}) })
}

func (q *queue) armIdle(ctx actor.Context) {
	if q.spec.expires <= 0 || q.idleTimer != nil || q.deleted {
		return
	}
	self, sys := ctx.Self(), ctx.ActorSystem()
	q.idleTimer = time.AfterFunc(time.Duration(q.spec.expires)*time.Millisecond, func() { sys.Root.Send(self, &idleTick{}) })
}

func nowMillis() int64 { return time.Now().UnixMilli() }
