package telemetry

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Attribute keys of the metrics; they become Prometheus labels unchanged.
const (
	LabelVhost    = "vhost"
	LabelExchange = "exchange"
	LabelQueue    = "queue"
	LabelReason   = "reason"
	LabelKind     = "kind"
)

// Dead-letter reasons (RabbitMQ's x-death reasons), for DeadLetterAttrs.
const (
	ReasonRejected      = "rejected"
	ReasonExpired       = "expired"
	ReasonMaxLen        = "maxlen"
	ReasonDeliveryLimit = "delivery_limit"
)

// settleLatencyBuckets are the histogram boundaries of SettleLatency, in
// seconds: from 100µs (a local consumer settling at once) to a minute (a
// consumer holding a delivery while it works).
var settleLatencyBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
}

// Metrics holds the instruments of DESIGN.md §7. Their Prometheus names are
// in the field comments.
//
// The per-message counters cost one atomic add: they are fields of the
// Labels of their exchange or queue (and of Metrics for the process-wide
// ones), and the instruments are asynchronous, reading them at scrape time. A
// synchronous OpenTelemetry counter costs ~135 ns an Add (attribute-set
// lookup, locking), several times per message on the hot path; an atomic add
// costs a few. An actor keeps its own Labels, for example
//
//	l := m.QueueLabels(vhost, queue) // once, when the queue starts
//	l.Delivered.Add(1)               // per delivery
//
// Rare events (dead-lettering, actor restarts) and the settle-latency
// histogram use synchronous instruments.
type Metrics struct {
	// warren_messages_published_total{vhost,exchange}: Labels.Published, messages accepted from producers.
	Published metric.Int64ObservableCounter
	// warren_messages_routed_total{vhost,exchange}: Labels.Routed, messages routed to at least one queue.
	Routed metric.Int64ObservableCounter
	// warren_messages_unroutable_total{vhost,exchange}: Labels.Unroutable, messages no binding matched.
	Unroutable metric.Int64ObservableCounter

	// warren_messages_enqueued_total{vhost,queue}: Labels.Enqueued, messages that entered the queue.
	Enqueued metric.Int64ObservableCounter
	// warren_messages_delivered_total{vhost,queue}: Labels.Delivered, transfers to consumers.
	Delivered metric.Int64ObservableCounter
	// warren_messages_redelivered_total{vhost,queue}: Labels.Redelivered, deliveries of messages delivered before.
	Redelivered metric.Int64ObservableCounter
	// warren_messages_acknowledged_total{vhost,queue}: Labels.Acknowledged, deliveries settled accepted.
	Acknowledged metric.Int64ObservableCounter
	// warren_messages_rejected_total{vhost,queue}: Labels.Rejected, deliveries settled rejected.
	Rejected metric.Int64ObservableCounter
	// warren_messages_released_total{vhost,queue}: Labels.Released, deliveries settled released or modified.
	Released metric.Int64ObservableCounter
	// warren_messages_dead_lettered_total{vhost,queue,reason}: messages dead-lettered.
	DeadLettered metric.Int64Counter

	// warren_connections: OpenConnections, open AMQP connections.
	Connections metric.Int64ObservableUpDownCounter
	// warren_sessions: OpenSessions, begun sessions.
	Sessions metric.Int64ObservableUpDownCounter
	// warren_links: AttachedLinks, attached links.
	Links metric.Int64ObservableUpDownCounter

	// warren_bytes_received_total: BytesIn, bytes read from client sockets.
	BytesReceived metric.Int64ObservableCounter
	// warren_bytes_sent_total: BytesOut, bytes written to client sockets.
	BytesSent metric.Int64ObservableCounter

	// warren_settle_latency_seconds{vhost,queue}: time from delivery to the consumer's settlement.
	SettleLatency metric.Float64Histogram

	// warren_actor_restarts_total{kind}: actors restarted by their supervisor.
	ActorRestarts metric.Int64Counter

	// warren_store_healthy: 1 while the durable store writes, 0 after a write failed (until one works);
	// absent without a store.
	StoreHealthy metric.Int64ObservableGauge
	// warren_alarms{kind}: alarms in effect (memory, disk, a given-up queue or exchange...), by kind.
	Alarms metric.Int64ObservableGauge

	// warren_queue_messages{vhost,queue}: ready plus unsettled messages, observed at scrape time.
	QueueMessages metric.Int64ObservableGauge
	// warren_queue_consumers{vhost,queue}: attached consumers, observed at scrape time.
	QueueConsumers metric.Int64ObservableGauge

	// The process-wide counts the observable instruments above report.
	OpenConnections, OpenSessions, AttachedLinks atomic.Int64
	BytesIn, BytesOut                            atomic.Int64

	snapshot atomic.Pointer[QueueSnapshotFunc]
	health   atomic.Pointer[HealthFunc]
	attrs    attrCache
}

// HealthFunc reports the broker's health at scrape time: whether it has a store and whether the store
// is healthy, and the number of alarms in effect of each kind (by calling alarm).
type HealthFunc = func(alarm func(kind string, n int64)) (hasStore, storeHealthy bool)

// SetHealth registers the function StoreHealthy and Alarms read; nil removes it.
func (m *Metrics) SetHealth(fn HealthFunc) {
	if fn == nil {
		m.health.Store(nil)
		return
	}
	m.health.Store(&fn)
}

func (m *Metrics) observeHealth(_ context.Context, o metric.Observer) error {
	fn := m.health.Load()
	if fn == nil {
		return nil
	}
	hasStore, healthy := (*fn)(func(kind string, n int64) {
		o.ObserveInt64(m.Alarms, n, m.KindLabels(kind).Observe...)
	})
	if hasStore {
		v := int64(0)
		if healthy {
			v = 1
		}
		o.ObserveInt64(m.StoreHealthy, v)
	}
	return nil
}

// QueueSnapshotFunc reports every queue's depth and consumer count by calling
// yield once per queue. It runs on the scraping goroutine.
type QueueSnapshotFunc = func(yield func(vhost, queue string, messages, consumers int64))

// NewMetrics creates the instruments on meter.
func NewMetrics(meter metric.Meter) (*Metrics, error) {
	m := &Metrics{}
	var errs []error
	var observed []metric.Observable
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := meter.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	observedCounter := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := meter.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		observed = append(observed, c)
		return c
	}
	upDown := func(name, unit, desc string) metric.Int64ObservableUpDownCounter {
		c, err := meter.Int64ObservableUpDownCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		observed = append(observed, c)
		return c
	}
	gauge := func(name, unit, desc string) metric.Int64ObservableGauge {
		g, err := meter.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return g
	}

	m.Published = observedCounter("warren.messages.published", "{message}", "Messages accepted from producers.")
	m.Routed = observedCounter("warren.messages.routed", "{message}", "Messages routed to at least one queue.")
	m.Unroutable = observedCounter("warren.messages.unroutable", "{message}", "Messages that matched no binding.")
	m.Enqueued = observedCounter("warren.messages.enqueued", "{message}", "Messages that entered the queue.")
	m.Delivered = observedCounter("warren.messages.delivered", "{message}", "Messages transferred to consumers.")
	m.Redelivered = observedCounter("warren.messages.redelivered", "{message}", "Messages delivered again after an earlier delivery.")
	m.Acknowledged = observedCounter("warren.messages.acknowledged", "{message}", "Deliveries settled with the accepted outcome.")
	m.Rejected = observedCounter("warren.messages.rejected", "{message}", "Deliveries settled with the rejected outcome.")
	m.Released = observedCounter("warren.messages.released", "{message}", "Deliveries settled with the released or modified outcome.")
	m.DeadLettered = counter("warren.messages.dead_lettered", "{message}", "Messages dead-lettered.")
	m.Connections = upDown("warren.connections", "{connection}", "Open AMQP connections.")
	m.Sessions = upDown("warren.sessions", "{session}", "Begun AMQP sessions.")
	m.Links = upDown("warren.links", "{link}", "Attached AMQP links.")
	m.BytesReceived = observedCounter("warren.bytes.received", "By", "Bytes read from client connections.")
	m.BytesSent = observedCounter("warren.bytes.sent", "By", "Bytes written to client connections.")
	m.ActorRestarts = counter("warren.actor.restarts", "{restart}", "Actors restarted by their supervisor.")
	m.StoreHealthy = gauge("warren.store.healthy", "", "1 while the durable store writes, 0 after a write failed.")
	m.Alarms = gauge("warren.alarms", "{alarm}", "Alarms in effect, by kind.")
	m.QueueMessages = gauge("warren.queue.messages", "{message}", "Messages in the queue, ready and unsettled.")
	m.QueueConsumers = gauge("warren.queue.consumers", "{consumer}", "Consumers attached to the queue.")

	var err error
	m.SettleLatency, err = meter.Float64Histogram("warren.settle.latency",
		metric.WithUnit("s"),
		metric.WithDescription("Time from the delivery of a message to its settlement by the consumer."),
		metric.WithExplicitBucketBoundaries(settleLatencyBuckets...))
	errs = append(errs, err)

	_, err = meter.RegisterCallback(m.observeQueues, m.QueueMessages, m.QueueConsumers)
	errs = append(errs, err)
	_, err = meter.RegisterCallback(m.observeHealth, m.StoreHealthy, m.Alarms)
	errs = append(errs, err)
	_, err = meter.RegisterCallback(m.observeCounts, observed...)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

// observeCounts reports the atomic counts at scrape time.
func (m *Metrics) observeCounts(_ context.Context, o metric.Observer) error {
	o.ObserveInt64(m.Connections, m.OpenConnections.Load())
	o.ObserveInt64(m.Sessions, m.OpenSessions.Load())
	o.ObserveInt64(m.Links, m.AttachedLinks.Load())
	o.ObserveInt64(m.BytesReceived, m.BytesIn.Load())
	o.ObserveInt64(m.BytesSent, m.BytesOut.Load())
	m.EachCounts(func(kind CountsKind, _, _ string, l *Labels) {
		switch kind {
		case ExchangeCounts:
			o.ObserveInt64(m.Published, l.Published.Load(), l.Observe...)
			o.ObserveInt64(m.Routed, l.Routed.Load(), l.Observe...)
			o.ObserveInt64(m.Unroutable, l.Unroutable.Load(), l.Observe...)
		case QueueCounts:
			o.ObserveInt64(m.Enqueued, l.Enqueued.Load(), l.Observe...)
			o.ObserveInt64(m.Delivered, l.Delivered.Load(), l.Observe...)
			o.ObserveInt64(m.Redelivered, l.Redelivered.Load(), l.Observe...)
			o.ObserveInt64(m.Acknowledged, l.Acknowledged.Load(), l.Observe...)
			o.ObserveInt64(m.Rejected, l.Rejected.Load(), l.Observe...)
			o.ObserveInt64(m.Released, l.Released.Load(), l.Observe...)
		}
	})
	return nil
}

// CountsKind says which counters of a Labels are in use.
type CountsKind uint8

const (
	ExchangeCounts CountsKind = iota // Published, Routed, Unroutable
	QueueCounts                      // Enqueued, Delivered, Redelivered, Acknowledged, Rejected, Released
)

// EachCounts calls fn for every exchange and queue that has Labels, with its
// vhost and name (the management API's message rates read them this way).
// fn must not call back into the label cache.
func (m *Metrics) EachCounts(fn func(kind CountsKind, vhost, name string, l *Labels)) {
	m.attrs.mu.RLock()
	defer m.attrs.mu.RUnlock()
	for k, l := range m.attrs.m {
		switch k.kind {
		case keyExchange:
			fn(ExchangeCounts, k.a, k.b, l)
		case keyQueue:
			fn(QueueCounts, k.a, k.b, l)
		}
	}
}

// SetQueueSnapshot registers the function the queue gauges call at scrape
// time; nil removes it.
func (m *Metrics) SetQueueSnapshot(fn func(yield func(vhost, queue string, messages, consumers int64))) {
	if fn == nil {
		m.snapshot.Store(nil)
		return
	}
	m.snapshot.Store(&fn)
}

func (m *Metrics) observeQueues(_ context.Context, o metric.Observer) error {
	fn := m.snapshot.Load()
	if fn == nil {
		return nil
	}
	(*fn)(func(vhost, queue string, messages, consumers int64) {
		l := m.QueueLabels(vhost, queue)
		o.ObserveInt64(m.QueueMessages, messages, l.Observe...)
		o.ObserveInt64(m.QueueConsumers, consumers, l.Observe...)
	})
	return nil
}

// Labels is one prebuilt attribute set in the forms the instruments take,
// and the counts kept under it. Option is the single option to pass to a
// synchronous instrument (m.DeadLettered.Add(ctx, 1, l.Option)); the
// one-element slices avoid the variadic slice Go allocates on each such call
// (m.SettleLatency.Record(ctx, s, l.Record...) allocates nothing). The slices
// are shared: read them, never modify them.
type Labels struct {
	Option  metric.MeasurementOption
	Add     []metric.AddOption
	Record  []metric.RecordOption
	Observe []metric.ObserveOption

	// An exchange's counts (ExchangeLabels).
	Published, Routed, Unroutable atomic.Int64
	// A queue's counts (QueueLabels).
	Enqueued, Delivered, Redelivered, Acknowledged, Rejected, Released atomic.Int64
}

func newLabels(set attribute.Set) *Labels {
	opt := metric.WithAttributeSet(set)
	return &Labels{
		Option:  opt,
		Add:     []metric.AddOption{opt},
		Record:  []metric.RecordOption{opt},
		Observe: []metric.ObserveOption{opt},
	}
}

// ExchangeLabels returns the {vhost, exchange} labels of Published, Routed
// and Unroutable, built once per pair.
func (m *Metrics) ExchangeLabels(vhost, exchange string) *Labels {
	return m.attrs.get(attrKey{kind: keyExchange, a: vhost, b: exchange})
}

// QueueLabels returns the {vhost, queue} labels of the per-queue counters and
// SettleLatency, built once per pair.
func (m *Metrics) QueueLabels(vhost, queue string) *Labels {
	return m.attrs.get(attrKey{kind: keyQueue, a: vhost, b: queue})
}

// DeadLetterLabels returns the {vhost, queue, reason} labels of DeadLettered.
func (m *Metrics) DeadLetterLabels(vhost, queue, reason string) *Labels {
	return m.attrs.get(attrKey{kind: keyDeadLetter, a: vhost, b: queue, c: reason})
}

// KindLabels returns the {kind} labels of ActorRestarts.
func (m *Metrics) KindLabels(kind string) *Labels {
	return m.attrs.get(attrKey{kind: keyKind, a: kind})
}

// ExchangeAttrs is ExchangeLabels(vhost, exchange).Option.
func (m *Metrics) ExchangeAttrs(vhost, exchange string) metric.MeasurementOption {
	return m.ExchangeLabels(vhost, exchange).Option
}

// QueueAttrs is QueueLabels(vhost, queue).Option.
func (m *Metrics) QueueAttrs(vhost, queue string) metric.MeasurementOption {
	return m.QueueLabels(vhost, queue).Option
}

// DeadLetterAttrs is DeadLetterLabels(vhost, queue, reason).Option.
func (m *Metrics) DeadLetterAttrs(vhost, queue, reason string) metric.MeasurementOption {
	return m.DeadLetterLabels(vhost, queue, reason).Option
}

// KindAttrs is KindLabels(kind).Option.
func (m *Metrics) KindAttrs(kind string) metric.MeasurementOption {
	return m.KindLabels(kind).Option
}

// ForgetQueue drops the labels of a deleted queue: its counters leave the
// next scrape (a queue declared again with the name counts from zero).
func (m *Metrics) ForgetQueue(vhost, queue string) {
	m.attrs.forget(func(k attrKey) bool {
		return (k.kind == keyQueue || k.kind == keyDeadLetter) && k.a == vhost && k.b == queue
	})
}

// ForgetExchange drops the labels of a deleted exchange, as ForgetQueue.
func (m *Metrics) ForgetExchange(vhost, exchange string) {
	m.attrs.forget(func(k attrKey) bool {
		return k.kind == keyExchange && k.a == vhost && k.b == exchange
	})
}

type attrKind uint8

const (
	keyExchange attrKind = iota
	keyQueue
	keyDeadLetter
	keyKind
)

type attrKey struct {
	kind    attrKind
	a, b, c string
}

// attrCache maps label values to prebuilt Labels. A hit takes a read lock
// and a map lookup, and allocates nothing.
type attrCache struct {
	mu sync.RWMutex
	m  map[attrKey]*Labels
}

func (c *attrCache) get(k attrKey) *Labels {
	c.mu.RLock()
	l, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return l
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if l, ok := c.m[k]; ok {
		return l
	}
	if c.m == nil {
		c.m = make(map[attrKey]*Labels)
	}
	l = newLabels(k.set())
	c.m[k] = l
	return l
}

func (c *attrCache) forget(match func(attrKey) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.m {
		if match(k) {
			delete(c.m, k)
		}
	}
}

func (k attrKey) set() attribute.Set {
	switch k.kind {
	case keyExchange:
		return attribute.NewSet(attribute.String(LabelVhost, k.a), attribute.String(LabelExchange, k.b))
	case keyQueue:
		return attribute.NewSet(attribute.String(LabelVhost, k.a), attribute.String(LabelQueue, k.b))
	case keyDeadLetter:
		return attribute.NewSet(attribute.String(LabelVhost, k.a), attribute.String(LabelQueue, k.b),
			attribute.String(LabelReason, k.c))
	default:
		return attribute.NewSet(attribute.String(LabelKind, k.a))
	}
}
