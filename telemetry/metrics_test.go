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

	ex := m.ExchangeAttrs("/", "amq.topic")
	m.Published.Add(ctx, 5, ex)
	m.Routed.Add(ctx, 4, ex)
	m.Unroutable.Add(ctx, 1, ex)

	q := m.QueueAttrs("/", "orders")
	m.Delivered.Add(ctx, 3, q)
	m.Redelivered.Add(ctx, 1, q)
	m.Acknowledged.Add(ctx, 2, q)
	m.Rejected.Add(ctx, 1, q)
	m.Released.Add(ctx, 1, q)
	m.DeadLettered.Add(ctx, 1, m.DeadLetterAttrs("/", "orders", ReasonRejected))
	m.SettleLatency.Record(ctx, 0.002, q)

	m.Connections.Add(ctx, 2)
	m.Connections.Add(ctx, -1)
	m.Sessions.Add(ctx, 3)
	m.Links.Add(ctx, 4)
	m.BytesReceived.Add(ctx, 1000)
	m.BytesSent.Add(ctx, 2000)
	m.ActorRestarts.Add(ctx, 1, m.KindAttrs("queue"))

	body := scrape(t, tel)
	for _, want := range []string{
		`warren_messages_published_total{exchange="amq.topic",vhost="/"} 5`,
		`warren_messages_routed_total{exchange="amq.topic",vhost="/"} 4`,
		`warren_messages_unroutable_total{exchange="amq.topic",vhost="/"} 1`,
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
		"# TYPE warren_settle_latency_seconds histogram",
		"go_goroutines",
	} {
		assert.Contains(t, body, want)
	}
	assert.NotContains(t, body, "otel_scope_name")
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
	assert.NotContains(t, body, `queue="audit"`)

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
	q := m.QueueAttrs("/", "orders")
	l := m.QueueLabels("/", "orders")
	m.Delivered.Add(ctx, 1, q)
	// A single option goes through a variadic slice Go allocates per call.
	assert.LessOrEqual(t, testing.AllocsPerRun(200, func() { m.Delivered.Add(ctx, 1, q) }), 1.0)
	// The prebuilt slices of Labels avoid it.
	assert.Zero(t, testing.AllocsPerRun(200, func() { m.Delivered.Add(ctx, 1, l.Add...) }))
	assert.Zero(t, testing.AllocsPerRun(200, func() { m.SettleLatency.Record(ctx, 0.01, l.Record...) }))
	assert.Zero(t, testing.AllocsPerRun(200, func() { m.Connections.Add(ctx, 1) }))
}
