package telemetry

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// scrape GETs /metrics from tel's handler and returns the exposition text.
func scrape(t *testing.T, tel *Telemetry) string {
	t.Helper()
	rr := httptest.NewRecorder()
	tel.Handler.ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rr.Code)
	body, err := io.ReadAll(rr.Body)
	require.NoError(t, err)
	return string(body)
}

func TestMetricsExposition(t *testing.T) {
	tel := Nop()
	m := tel.Metrics
	ctx := context.Background()

	ex := m.ExchangeLabels("/", "amq.topic")
	ex.Published.Add(5)
	ex.Routed.Add(4)
	ex.Unroutable.Add(1)

	q := m.QueueLabels("/", "orders")
	q.Enqueued.Add(4)
	q.Delivered.Add(3)
	q.Redelivered.Add(1)
	q.Acknowledged.Add(2)
	q.Rejected.Add(1)
	q.Released.Add(1)
	m.DeadLettered.Add(ctx, 1, m.DeadLetterAttrs("/", "orders", ReasonRejected))
	m.SettleLatency.Record(ctx, 0.002, q.Record...)

	m.OpenConnections.Add(2)
	m.OpenConnections.Add(-1)
	m.OpenSessions.Add(3)
	m.AttachedLinks.Add(4)
	m.BytesIn.Add(1000)
	m.BytesOut.Add(2000)
	m.ActorRestarts.Add(ctx, 1, m.KindAttrs("queue"))

	body := scrape(t, tel)
	for _, want := range []string{
		`warren_messages_published_total{exchange="amq.topic",vhost="/"} 5`,
		`warren_messages_routed_total{exchange="amq.topic",vhost="/"} 4`,
		`warren_messages_unroutable_total{exchange="amq.topic",vhost="/"} 1`,
		`warren_messages_enqueued_total{queue="orders",vhost="/"} 4`,
		`warren_messages_delivered_total{queue="orders",vhost="/"} 3`,
		`warren_messages_redelivered_total{queue="orders",vhost="/"} 1`,
		`warren_messages_acknowledged_total{queue="orders",vhost="/"} 2`,
		`warren_messages_rejected_total{queue="orders",vhost="/"} 1`,
		`warren_messages_released_total{queue="orders",vhost="/"} 1`,
		`warren_messages_dead_lettered_total{queue="orders",reason="rejected",vhost="/"} 1`,
		`warren_settle_latency_seconds_bucket{queue="orders",vhost="/",le="0.0025"} 1`,
		`warren_settle_latency_seconds_count{queue="orders",vhost="/"} 1`,
		"warren_connections 1",
		"warren_sessions 3",
		"warren_links 4",
		"warren_bytes_received_total 1000",
		"warren_bytes_sent_total 2000",
		`warren_actor_restarts_total{kind="queue"} 1`,
		"# TYPE warren_connections gauge",
		"# TYPE warren_messages_published_total counter",
		"# TYPE warren_settle_latency_seconds histogram",
		"go_goroutines",
	} {
		assert.Contains(t, body, want)
	}
	assert.NotContains(t, body, "otel_scope_name")
	// The exchange's labels carry no queue series, and the other way round.
	assert.NotContains(t, body, `warren_messages_delivered_total{exchange=`)
	assert.NotContains(t, body, `warren_messages_published_total{queue=`)

	// A forgotten queue's counters leave the next scrape.
	m.ForgetQueue("/", "orders")
	assert.NotContains(t, scrape(t, tel), `warren_messages_delivered_total{queue="orders"`)
}

func TestQueueSnapshotGauges(t *testing.T) {
	tel := Nop()
	body := scrape(t, tel)
	assert.NotContains(t, body, "warren_queue_messages{", "no snapshot registered yet")

	calls := 0
	tel.Metrics.SetQueueSnapshot(func(yield func(vhost, queue string, messages, consumers int64)) {
		calls++
		yield("/", "orders", 42, 2)
		yield("staging", "audit", 0, 0)
	})
	body = scrape(t, tel)
	assert.Equal(t, 1, calls)
	for _, want := range []string{
		`warren_queue_messages{queue="orders",vhost="/"} 42`,
		`warren_queue_consumers{queue="orders",vhost="/"} 2`,
		`warren_queue_messages{queue="audit",vhost="staging"} 0`,
		`warren_queue_consumers{queue="audit",vhost="staging"} 0`,
	} {
		assert.Contains(t, body, want)
	}

	// Gauges report only what the latest snapshot yields: a deleted queue disappears.
	tel.Metrics.SetQueueSnapshot(func(yield func(vhost, queue string, messages, consumers int64)) {
		yield("/", "orders", 7, 1)
	})
	body = scrape(t, tel)
	assert.Contains(t, body, `warren_queue_messages{queue="orders",vhost="/"} 7`)
	assert.NotContains(t, body, `warren_queue_messages{queue="audit"`)
	assert.NotContains(t, body, `warren_queue_consumers{queue="audit"`)

	tel.Metrics.SetQueueSnapshot(nil)
	assert.NotContains(t, scrape(t, tel), "warren_queue_messages{")
}

func TestAttrCache(t *testing.T) {
	m := Nop().Metrics
	cached := func() int {
		m.attrs.mu.RLock()
		defer m.attrs.mu.RUnlock()
		return len(m.attrs.m)
	}
	a := m.QueueAttrs("/", "q")
	assert.Equal(t, a, m.QueueAttrs("/", "q"))
	assert.Equal(t, 1, cached(), "second lookup must hit the cache")
	m.ExchangeAttrs("/", "q")
	assert.Equal(t, 2, cached(), "queues and exchanges are distinct keys")

	m.DeadLetterAttrs("/", "q", ReasonExpired)
	m.ExchangeAttrs("/", "e")
	m.ForgetQueue("/", "q")
	m.ForgetExchange("/", "e")
	assert.Equal(t, 1, cached(), "only the exchange named q should remain")

	allocs := testing.AllocsPerRun(100, func() { _ = m.QueueLabels("/", "q2") })
	assert.Zero(t, allocs, "cache hits must not allocate")
}

func TestCounterAddAllocations(t *testing.T) {
	m := Nop().Metrics
	ctx := context.Background()
	l := m.QueueLabels("/", "orders")
	assert.Zero(t, testing.AllocsPerRun(200, func() { l.Delivered.Add(1) }))
	// The prebuilt slices of Labels avoid the variadic slice of a synchronous instrument.
	assert.Zero(t, testing.AllocsPerRun(200, func() { m.SettleLatency.Record(ctx, 0.01, l.Record...) }))
	assert.Zero(t, testing.AllocsPerRun(200, func() { m.DeadLettered.Add(ctx, 1, l.Add...) }))
}
