package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/warren-mq/warren/examples/internal/brokertest"
	"github.com/warren-mq/warren/telemetry"
)

// jaegerBinEnv names the Jaeger v2 binary the end-to-end test runs; when unset, the test runs
// /tmp/jaeger (where the README builds it) or else a jaeger found on PATH.
const jaegerBinEnv = "WARREN_JAEGER_BIN"

// jaegerBin returns the Jaeger binary to run, or why there is none.
func jaegerBin() (string, error) {
	if bin := os.Getenv(jaegerBinEnv); bin != "" {
		_, err := os.Stat(bin)
		return bin, err
	}
	const built = "/tmp/jaeger"
	_, err := os.Stat(built)
	if err == nil {
		return built, nil
	}
	if bin, lookErr := exec.LookPath("jaeger"); lookErr == nil {
		return bin, nil
	}
	return built, fmt.Errorf("%w, and no jaeger on PATH", err)
}

// jaegerConfig is ../shared/jaeger/jaeger-loopback.yaml with every port given: in-memory storage,
// OTLP in, query API out, nothing beyond loopback.
const jaegerConfig = `service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    resource:
      service.name: jaeger
    metrics:
      level: none
    logs:
      level: info
extensions:
  healthcheckv2:
    use_v2: true
    http:
      endpoint: 127.0.0.1:%d
  jaeger_query:
    enable_tracing: false
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:%d
    grpc:
      endpoint: 127.0.0.1:%d
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 1000
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%d
      http:
        endpoint: 127.0.0.1:%d
processors:
  batch:
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`

// jaeger is a running Jaeger: where to send OTLP/HTTP and where to query.
type jaeger struct{ otlpHTTP, query string }

// startJaeger runs the Jaeger binary on free loopback ports until the test ends. Without a binary it
// skips the test: the span-recorder test in example_test.go checks the same tree without one.
func startJaeger(t *testing.T) jaeger {
	t.Helper()
	bin, err := jaegerBin()
	if err != nil {
		t.Skipf("no Jaeger binary at %s (%v): build one with ../shared/jaeger/build-jaeger.sh /tmp/jaeger "+
			"(4–8 minutes the first time) or set %s to one; TestTraceJoinsProducerBrokerAndConsumer checks the "+
			"same span tree without Jaeger", bin, err, jaegerBinEnv)
	}
	ports := freePorts(t, 5)
	cfg := filepath.Join(t.TempDir(), "jaeger.yaml")
	require.NoError(t, os.WriteFile(cfg, fmt.Appendf(nil, jaegerConfig, ports[0], ports[1], ports[2], ports[3], ports[4]), 0o600))
	j := jaeger{otlpHTTP: fmt.Sprintf("127.0.0.1:%d", ports[4]), query: fmt.Sprintf("127.0.0.1:%d", ports[1])}

	var logs syncBuffer
	cmd := exec.Command(bin, "--config", cfg)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("Jaeger's output:\n%s", logs.String())
		}
	})

	// Ready when the query API answers (an extension: it starts first) and the OTLP receiver listens
	// (started with the pipelines, last).
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("Jaeger exited at start (%v):\n%s", err, logs.String())
		default:
		}
		if ready(j) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("Jaeger's query API did not answer within 30 s:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func ready(j jaeger) bool {
	resp, err := http.Get("http://" + j.query + "/api/services")
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	conn, err := net.DialTimeout("tcp", j.otlpHTTP, time.Second)
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}

// freePorts reserves n distinct loopback ports and releases them for Jaeger to bind.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// syncBuffer collects a child process's output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitAcknowledged waits until the broker's metrics count the consumer's accept of the example's
// message: the queue records the settle span just before.
func waitAcknowledged(t *testing.T, tel *telemetry.Telemetry) {
	t.Helper()
	want := `warren_messages_acknowledged_total{queue="` + queue + `",vhost="/"} 1`
	require.Eventually(t, func() bool {
		rec := httptest.NewRecorder()
		tel.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		return strings.Contains(rec.Body.String(), want)
	}, 10*time.Second, 10*time.Millisecond, "the broker never counted the accept: no %s", want)
}

// The Jaeger query API's JSON (/api/traces): traces, their spans, and the processes (services) the
// spans point at.
type jaegerTraces struct {
	Data []struct {
		TraceID string `json:"traceID"`
		Spans   []struct {
			TraceID       string `json:"traceID"`
			SpanID        string `json:"spanID"`
			OperationName string `json:"operationName"`
			StartTime     int64  `json:"startTime"` // µs since the Unix epoch
			ProcessID     string `json:"processID"`
			References    []struct {
				RefType string `json:"refType"`
				TraceID string `json:"traceID"`
				SpanID  string `json:"spanID"`
			} `json:"references"`
			Tags []struct {
				Key   string `json:"key"`
				Value any    `json:"value"`
			} `json:"tags"`
		} `json:"spans"`
		Processes map[string]struct {
			ServiceName string `json:"serviceName"`
		} `json:"processes"`
	} `json:"data"`
}

// jaegerSpans searches Jaeger for the recent traces of service and returns their spans.
func (j jaeger) spans(service string) ([]span, error) {
	q := url.Values{"service": {service}, "lookback": {"1h"}, "limit": {"20"}}
	resp, err := http.Get("http://" + j.query + "/api/traces?" + q.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /api/traces?service=%s: %s", service, resp.Status)
	}
	var traces jaegerTraces
	if err := json.NewDecoder(resp.Body).Decode(&traces); err != nil {
		return nil, err
	}
	var out []span
	for _, tr := range traces.Data {
		for _, s := range tr.Spans {
			sp := span{service: tr.Processes[s.ProcessID].ServiceName, name: s.OperationName,
				traceID: s.TraceID, spanID: s.SpanID, start: time.UnixMicro(s.StartTime), attrs: map[string]string{}}
			for _, r := range s.References {
				if r.RefType == "CHILD_OF" && r.TraceID == s.TraceID {
					sp.parentID = r.SpanID
				}
			}
			for _, tag := range s.Tags {
				sp.attrs[tag.Key] = fmt.Sprint(tag.Value)
			}
			out = append(out, sp)
		}
	}
	return out, nil
}

// The whole trip through a real Jaeger v2: the example exports its spans as service
// warren-tracing-example, the in-process broker as warren (telemetry.Setup configured like the
// daemon, from OTEL_* variables), and Jaeger's query API returns one trace holding
// send → receive → route → enqueue → deliver → process.
func TestJaegerShowsOneTrace(t *testing.T) {
	j := startJaeger(t)
	ctx := brokertest.Context(t, 60*time.Second)
	otelEnv := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + j.otlpHTTP}
	getenv := func(k string) string { return otelEnv[k] }

	tel, err := telemetry.Setup(ctx, telemetry.Options{ServiceVersion: "jaeger-test", Getenv: getenv})
	require.NoError(t, err)
	require.True(t, tel.TracingEnabled, "an OTLP endpoint turns tracing on")
	url, stopBroker := startBroker(t, tel)
	tp, err := newTracerProvider(ctx, getenv)
	require.NoError(t, err)

	var out strings.Builder
	runErr := run(ctx, url, tp, &out)
	if runErr == nil {
		// The consumer's accept is on the wire when run returns; the queue settles (and ends the
		// settle span) a moment later. Stopping the broker before that would lose the settlement.
		waitAcknowledged(t, tel)
	}
	stopBroker()
	require.NoError(t, tel.Shutdown(ctx), "flushing the broker's spans to Jaeger")
	require.NoError(t, tp.Shutdown(ctx), "flushing the example's spans to Jaeger")
	require.NoError(t, runErr)
	traceID := traceOf(t, out.String())
	t.Logf("example output:\n%s", out.String())

	// Jaeger batches what it receives: poll until the whole trace is stored (bounded).
	var spans []span
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var err error
		spans, err = j.spans(brokerService)
		if !assert.NoError(c, err) {
			return
		}
		assertTrace(c, spans, traceID)
	}, 30*time.Second, 250*time.Millisecond, "Jaeger never held the whole trace %s under service %s", traceID, brokerService)
	t.Logf("Jaeger's trace %s:\n%s", traceID, render(spans, traceID))

	// The same trace is found from the example's side.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		spans, err := j.spans(serviceName)
		if !assert.NoError(c, err) {
			return
		}
		assertTrace(c, spans, traceID)
	}, 10*time.Second, 250*time.Millisecond, "Jaeger never held trace %s under service %s", traceID, serviceName)
}
