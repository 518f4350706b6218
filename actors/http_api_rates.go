package actors

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/warren-mq/warren/telemetry"
)

// Message rates for the HTTP API, in the shape of RabbitMQ's message_stats: {"publish": 12,
// "publish_details": {"rate": 2.4}, ...}. The counts are the broker's own counters (DESIGN.md §7, the
// warren_messages_*_total series of /metrics), read from the metrics registry every apiRateInterval
// (RabbitMQ's default statistics interval is 5 s too); a rate is the change between the last two
// samples, per second. Counts are therefore up to one interval old.
//
//	overview, vhost: publish, deliver_get, ack, redeliver, reject, drop_unroutable
//	queue:           deliver_get, ack, redeliver, reject
//	exchange:        publish_in, publish_out (routed to at least one queue), drop_unroutable

// apiRateInterval is how often the counters are sampled; read once when the HTTP API starts.
var apiRateInterval = 5 * time.Second

// The counters sampled, by their Prometheus names.
const (
	metricPublished    = "warren_messages_published_total"
	metricRouted       = "warren_messages_routed_total"
	metricUnroutable   = "warren_messages_unroutable_total"
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
	queueRateFields = []rateField{{"deliver_get", metricDelivered}, {"ack", metricAcknowledged},
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
	metrics   http.Handler // the /metrics handler
	mu        sync.Mutex
	prev, cur *rateSample
}

// startRates takes a first sample and then one every apiRateInterval until the broker stops.
func (b *Broker) startRates() *apiRates {
	r := &apiRates{metrics: b.tel.Handler}
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

// metricsBuffer is the http.ResponseWriter the metrics handler writes a scrape into.
type metricsBuffer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *metricsBuffer) Header() http.Header         { return w.header }
func (w *metricsBuffer) Write(p []byte) (int, error) { return w.body.Write(p) }
func (w *metricsBuffer) WriteHeader(status int)      { w.status = status }

// scrape reads the counters from the metrics handler, in the delimited protobuf exposition format.
func (r *apiRates) scrape() (*rateSample, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", string(expfmt.NewFormat(expfmt.TypeProtoDelim)))
	w := &metricsBuffer{header: http.Header{}, status: http.StatusOK}
	r.metrics.ServeHTTP(w, req)
	if w.status != http.StatusOK {
		return nil, errors.New("the metrics handler answered " + http.StatusText(w.status))
	}
	s := &rateSample{at: time.Now(), vhosts: map[string]counters{}, queues: map[rateKey]counters{},
		exchanges: map[rateKey]counters{}}
	dec := expfmt.NewDecoder(&w.body, expfmt.ResponseFormat(w.header))
	for {
		var mf dto.MetricFamily
		if err := dec.Decode(&mf); err != nil {
			if errors.Is(err, io.EOF) {
				return s, nil
			}
			return nil, err
		}
		name := mf.GetName()
		kind := sampledMetrics[name]
		if mf.GetType() != dto.MetricType_COUNTER || kind == "" {
			continue
		}
		for _, m := range mf.GetMetric() {
			// An empty label (the default exchange "") is absent in Prometheus: it reads as "".
			var vhost, object string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case telemetry.LabelVhost:
					vhost = l.GetValue()
				case kind:
					object = l.GetValue()
				}
			}
			v := m.GetCounter().GetValue()
			add(s.vhosts, vhost, name, v)
			if kind == telemetry.LabelQueue {
				add(s.queues, rateKey{vhost, object}, name, v)
			} else {
				add(s.exchanges, rateKey{vhost, object}, name, v)
			}
		}
	}
}

// sampledMetrics are the counters read, each with the label naming its object.
var sampledMetrics = map[string]string{
	metricPublished: telemetry.LabelExchange, metricRouted: telemetry.LabelExchange, metricUnroutable: telemetry.LabelExchange,
	metricDelivered: telemetry.LabelQueue, metricRedelivered: telemetry.LabelQueue, metricAcknowledged: telemetry.LabelQueue,
	metricRejected: telemetry.LabelQueue,
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
