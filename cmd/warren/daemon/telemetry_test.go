package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/actors"
	"go.opentelemetry.io/otel/trace"

	"github.com/warren-mq/warren/telemetry"
)

// syncBuffer collects the daemon's log output, written from many goroutines.
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

// daemon is Run started in the background, as main starts it, with its own signal channel.
type daemon struct {
	sigs   chan os.Signal
	code   chan int
	stderr *syncBuffer
}

// startDaemon runs the daemon with args (plus a fresh --data-dir) and getenv, and stops it when the
// test ends if the test has not.
func startDaemon(t *testing.T, getenv func(string) string, args ...string) *daemon {
	t.Helper()
	return startCustomDaemon(t, getenv, nil, args...)
}

// startCustomDaemon is startDaemon with a customize function, as a daemon of your own passes to Main.
func startCustomDaemon(t *testing.T, getenv func(string) string, customize func(*actors.Options), args ...string) *daemon {
	t.Helper()
	old := slog.Default()
	d := &daemon{sigs: make(chan os.Signal, 1), code: make(chan int, 1), stderr: &syncBuffer{}}
	args = append(args, "--data-dir", t.TempDir())
	go func() { d.code <- Run(args, getenv, io.Discard, d.stderr, d.sigs, customize) }()
	t.Cleanup(func() {
		select {
		case d.sigs <- syscall.SIGTERM:
		default:
		}
		select {
		case <-d.code:
		case <-time.After(shutdownTimeout + telemetryFlushTimeout):
			t.Error("the daemon did not stop")
		}
		slog.SetDefault(old) // run installs its logger as the default
	})
	return d
}

// waitLog waits for a log line matching re and returns its submatches.
func (d *daemon) waitLog(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	var m []string
	require.Eventually(t, func() bool {
		m = re.FindStringSubmatch(d.stderr.String())
		return m != nil
	}, 10*time.Second, 10*time.Millisecond, "no log line matching %s in:\n%s", re, d.stderr)
	return m
}

// stop sends SIGTERM and returns the exit code.
func (d *daemon) stop(t *testing.T) int {
	t.Helper()
	d.sigs <- syscall.SIGTERM
	select {
	case code := <-d.code:
		d.code <- code // for the cleanup
		return code
	case <-time.After(shutdownTimeout + telemetryFlushTimeout):
		t.Fatal("the daemon did not stop")
		return -1
	}
}

var (
	listeningAMQP = regexp.MustCompile(`msg=listening amqp=(\S+)`)
	listeningHTTP = regexp.MustCompile(`msg=listening http=(\S+)`)
)

// The daemon serves the broker's metrics in Prometheus text form at /metrics on --http-addr.
func TestRunServesMetrics(t *testing.T) {
	d := startDaemon(t, noEnv, "--amqp-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0")
	amqpAddr := d.waitLog(t, listeningAMQP)[1]
	httpAddr := d.waitLog(t, listeningHTTP)[1]

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, snd := dialSender(ctx, t, amqpAddr, "metrics") // a bare name: the queue, created on first use
	require.NoError(t, snd.Send(ctx, amqp.NewMessage([]byte("counted")), nil))

	// The queue gauge is observed at scrape time: the message shows once the queue holds it.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		resp, err := http.Get("http://" + httpAddr + "/metrics")
		if !assert.NoError(c, err) {
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		assert.NoError(c, err)
		assert.Equal(c, http.StatusOK, resp.StatusCode)
		assert.Contains(c, resp.Header.Get("Content-Type"), "text/plain")
		body := string(b)
		assert.Contains(c, body, `warren_queue_messages{queue="metrics",vhost="/"} 1`)
		assert.Contains(c, body, "warren_connections 1")
		assert.Contains(c, body, "# TYPE warren_messages_published_total counter")
		assert.Contains(c, body, "go_goroutines", "the Go runtime collector is registered")
	}, 5*time.Second, 20*time.Millisecond)

	require.NoError(t, conn.Close())
	assert.Equal(t, 0, d.stop(t))
}

// otlpCollector is an OTLP/HTTP endpoint; received returns the request lines and bodies posted to it.
func otlpCollector(t *testing.T) (srv *httptest.Server, received func() (requests []string, bodies []byte)) {
	var mu sync.Mutex
	var reqs []string
	var all []byte
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, r.Method+" "+r.URL.Path)
		all = append(all, body...)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv, func() ([]string, []byte) {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), reqs...), append([]byte(nil), all...)
	}
}

// The OTEL_* variables reach telemetry.Setup through run's getenv, not the process environment: with
// an endpoint, the broker's spans of a traced message reach the collector when the daemon stops.
func TestRunReadsOTELEnvironment(t *testing.T) {
	srv, received := otlpCollector(t)

	t.Run("endpoint", func(t *testing.T) {
		d := startDaemon(t, env(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL}),
			"--amqp-addr", "127.0.0.1:0", "--http-addr", "off")
		d.waitLog(t, regexp.MustCompile(`msg="telemetry: exporting traces" endpoint=`+
			regexp.QuoteMeta(srv.URL+"/v1/traces")+` protocol=http/protobuf`))
		amqpAddr := d.waitLog(t, listeningAMQP)[1]

		// A producer's message in trace traceID: the broker's receive span joins it.
		traceID := trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		conn, snd := dialSender(ctx, t, amqpAddr, "traced")
		msg := amqp.NewMessage([]byte("traced"))
		msg.ApplicationProperties = map[string]any{"traceparent": "00-" + traceID.String() + "-00f067aa0ba902b7-01"}
		require.NoError(t, snd.Send(ctx, msg, nil))
		require.NoError(t, conn.Close())

		assert.Equal(t, 0, d.stop(t))
		reqs, bodies := received()
		assert.Contains(t, reqs, "POST /v1/traces", "the spans were flushed at shutdown")
		assert.True(t, bytes.Contains(bodies, traceID[:]), "the exported spans belong to the producer's trace")
		assert.True(t, bytes.Contains(bodies, []byte("receive ")), "the broker's receive span was exported")
	})

	t.Run("sdk disabled", func(t *testing.T) {
		before, _ := received()
		d := startDaemon(t, env(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL, "OTEL_SDK_DISABLED": "true"}),
			"--amqp-addr", "127.0.0.1:0", "--http-addr", "off")
		d.waitLog(t, listeningAMQP)
		assert.Equal(t, 0, d.stop(t))
		assert.NotContains(t, d.stderr.String(), "exporting traces")
		after, _ := received()
		assert.Len(t, after, len(before), "nothing exported")
	})
}

// An OTEL variable Setup refuses stops the daemon before the broker starts, as a bad WARREN_* does.
func TestRunRefusesInvalidOTELVariable(t *testing.T) {
	old := slog.Default()
	t.Cleanup(func() { slog.SetDefault(old) })
	var stderr bytes.Buffer
	code := Run([]string{"--amqp-addr", "127.0.0.1:0", "--http-addr", "off", "--data-dir", t.TempDir()},
		env(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "carrier-pigeon"}),
		io.Discard, &stderr, make(chan os.Signal, 1), nil)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr.String(), `warren: telemetry: unsupported OTEL_EXPORTER_OTLP_PROTOCOL "carrier-pigeon"`)
	assert.NotContains(t, stderr.String(), "listening", "the broker never started")
}

// Records logged inside a traced operation carry its trace and span ids, in both log formats.
func TestLoggerAddsTraceIDs(t *testing.T) {
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			c := defaultConfig()
			c.LogFormat = format
			var buf bytes.Buffer
			logger, err := c.newLogger(&buf)
			require.NoError(t, err)
			logger.InfoContext(ctx, "traced")
			logger.Info("untraced")
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			require.Len(t, lines, 2)
			if format == "json" {
				var rec map[string]any
				require.NoError(t, json.Unmarshal([]byte(lines[0]), &rec))
				assert.Equal(t, sc.TraceID().String(), rec[telemetry.LogKeyTraceID])
				assert.Equal(t, sc.SpanID().String(), rec[telemetry.LogKeySpanID])
			} else {
				assert.Contains(t, lines[0], "trace_id=4bf92f3577b34da6a3ce929d0e0e4736")
				assert.Contains(t, lines[0], "span_id=00f067aa0ba902b7")
			}
			assert.NotContains(t, lines[1], "trace_id")
		})
	}
}

// dialSender connects to the daemon at amqpAddr and attaches a producer to target; the caller closes
// the connection.
func dialSender(ctx context.Context, t *testing.T, amqpAddr, target string) (*amqp.Conn, *amqp.Sender) {
	t.Helper()
	conn, err := amqp.Dial(ctx, "amqp://"+amqpAddr, nil)
	require.NoError(t, err)
	sess, err := conn.NewSession(ctx, nil)
	require.NoError(t, err)
	snd, err := sess.NewSender(ctx, target, nil)
	require.NoError(t, err)
	return conn, snd
}
