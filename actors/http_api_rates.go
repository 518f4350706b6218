package actors

import (
	"net/http"
	"sync"
	"time"

	"github.com/warren-mq/warren/telemetry"
)

// Message rates for the HTTP API, in the shape of RabbitMQ's message_stats: {"publish": 12,
// "publish_details": {"rate": 2.4}, ...}. The counts are the broker's own counters (DESIGN.md §7, the
// warren_messages_*_total series of /metrics), read from the broker's counters every apiRateInterval
// (RabbitMQ's default statistics interval is 5 s too); a rate is the change between the last two
// samples, per second. Counts are therefore up to one interval old.
//
//	overview, vhost: publish, deliver_get, ack, redeliver, reject, drop_unroutable
//	queue:           publish (messages enqueued), deliver_get, ack, redeliver, reject
//	exchange:        publish_in, publish_out (routed to at least one queue), drop_unroutable

// apiRateInterval is how often the counters are sampled; read once when the HTTP API starts.
var apiRateInterval = 5 * time.Second

// The counters sampled, by their Prometheus names.
const (
	metricPublished    = "warren_messages_published_total"
	metricRouted       = "warren_messages_routed_total"
	metricUnroutable   = "warren_messages_unroutable_total"
	metricEnqueued     = "warren_messages_enqueued_total"
	metricDelivered    = "warren_messages_delivered_total"
	metricRedelivered  = "warren_messages_redelivered_total"
	metricAcknowledged = "warren_messages_acknowledged_total"
	metricRejected     = "warren_messages_rejected_total"
)

// rateFields map a message_stats field to the counter it reports, per object kind.
var (
	vhostRateFields = []rateField{{"publish", metricPublished}, {"deliver_get", metricDelivered},
		{"ack", metricAcknowledged}, {"redeliver", metricRedelivered}, {"reject", metricRejected},
		{"drop_unroutable", metricUnroutable}}
	queueRateFields = []rateField{{"publish", metricEnqueued}, {"deliver_get", metricDelivered}, {"ack", metricAcknowledged},
		{"redeliver", metricRedelivered}, {"reject", metricRejected}}
	exchangeRateFields = []rateField{{"publish_in", metricPublished}, {"publish_out", metricRouted},
		{"drop_unroutable", metricUnroutable}}
)

type rateField struct{ name, metric string }

// rateKey names a queue or an exchange across vhosts.
type rateKey struct{ vhost, name string }

// counters are the sampled counter values, by metric name.
type counters map[string]float64

type rateSample struct {
	at        time.Time
	vhosts    map[string]counters // summed over the vhost's queues or exchanges
	queues    map[rateKey]counters
	exchanges map[rateKey]counters
}

// apiRates keeps the last two samples; handlers read them under mu.
type apiRates struct {
	met       *telemetry.Metrics
	mu        sync.Mutex
	prev, cur *rateSample
}

// startRates takes a first sample and then one every apiRateInterval until the broker stops.
func (b *Broker) startRates() *apiRates {
	r := &apiRates{met: b.met}
	interval := apiRateInterval
	r.sample(b)
	b.goTracked(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-b.stop:
				return
			case <-t.C:
				r.sample(b)
			}
		}
	})
	return r
}

func (r *apiRates) sample(b *Broker) {
	s, err := r.scrape()
	if err != nil {
		b.log.Warn("management API: reading the message counters", "err", err)
		return
	}
	r.mu.Lock()
	r.prev, r.cur = r.cur, s
	r.mu.Unlock()
}

// scrape reads the counters straight from the broker's metrics (the atomic counts /metrics reports).
func (r *apiRates) scrape() (*rateSample, error) {
	s := &rateSample{at: time.Now(), vhosts: map[string]counters{}, queues: map[rateKey]counters{},
		exchanges: map[rateKey]counters{}}
	r.met.EachCounts(func(kind telemetry.CountsKind, vhost, name string, l *telemetry.Labels) {
		var values []counterValue
		var into map[rateKey]counters
		switch kind {
		case telemetry.ExchangeCounts:
			into = s.exchanges
			values = []counterValue{{metricPublished, l.Published.Load()}, {metricRouted, l.Routed.Load()},
				{metricUnroutable, l.Unroutable.Load()}}
		case telemetry.QueueCounts:
			into = s.queues
			values = []counterValue{{metricEnqueued, l.Enqueued.Load()}, {metricDelivered, l.Delivered.Load()},
				{metricRedelivered, l.Redelivered.Load()}, {metricAcknowledged, l.Acknowledged.Load()},
				{metricRejected, l.Rejected.Load()}}
		default:
			return
		}
		for _, v := range values {
			add(s.vhosts, vhost, v.metric, float64(v.n))
			add(into, rateKey{vhost, name}, v.metric, float64(v.n))
		}
	})
	return s, nil
}

type counterValue struct {
	metric string
	n      int64
}

func add[K comparable](m map[K]counters, k K, metric string, v float64) {
	c := m[k]
	if c == nil {
		c = counters{}
		m[k] = c
	}
	c[metric] += v
}

// apiRateView is what one request sees: the two samples of that moment (either may be nil).
type apiRateView struct{ prev, cur *rateSample }

func (r *apiRates) view() apiRateView {
	if r == nil {
		return apiRateView{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return apiRateView{prev: r.prev, cur: r.cur}
}

// stats renders message_stats from the counters now and one interval ago (nil when there is no sample).
func (rv apiRateView) stats(fields []rateField, cur, prev counters) map[string]any {
	out := map[string]any{}
	dt := 0.0
	if rv.prev != nil && rv.cur != nil {
		dt = rv.cur.at.Sub(rv.prev.at).Seconds()
	}
	for _, f := range fields {
		n := cur[f.metric]
		rate := 0.0
		if dt > 0 && n > prev[f.metric] {
			rate = (n - prev[f.metric]) / dt
		}
		out[f.name] = int64(n)
		out[f.name+"_details"] = map[string]any{"rate": rate}
	}
	return out
}

func (rv apiRateView) pick(f func(*rateSample) counters) (cur, prev counters) {
	if rv.cur != nil {
		cur = f(rv.cur)
	}
	if rv.prev != nil {
		prev = f(rv.prev)
	}
	return cur, prev
}

func (rv apiRateView) queue(vhost, name string) map[string]any {
	cur, prev := rv.pick(func(s *rateSample) counters { return s.queues[rateKey{vhost, name}] })
	return rv.stats(queueRateFields, cur, prev)
}

func (rv apiRateView) exchange(vhost, name string) map[string]any {
	cur, prev := rv.pick(func(s *rateSample) counters { return s.exchanges[rateKey{vhost, name}] })
	return rv.stats(exchangeRateFields, cur, prev)
}

// vhosts sums the counters of the named vhosts (the overview covers the vhosts a user may see).
func (rv apiRateView) vhosts(names ...string) map[string]any {
	cur, prev := rv.pick(func(s *rateSample) counters {
		sum := counters{}
		for _, n := range names {
			for k, v := range s.vhosts[n] {
				sum[k] += v
			}
		}
		return sum
	})
	return rv.stats(vhostRateFields, cur, prev)
}

// The rates travel to the handlers in the request's context.
type apiRatesKey struct{}

func apiRatesOf(r *http.Request) apiRateView {
	rates, _ := r.Context().Value(apiRatesKey{}).(*apiRates)
	return rates.view()
}
