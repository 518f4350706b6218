// Package brokertest runs an in-process Warren broker for the examples' tests.
package brokertest

import (
	"context"
	"io"
	"log/slog"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/actors"
)

// Start runs a broker on a free loopback port until the test ends and returns its amqp:// URL. It
// also fails the test if, after the broker has shut down, more goroutines are alive than before.
// Set WARREN_TEST_LOG to see the broker's logs.
func Start(t testing.TB) string {
	t.Helper()
	checkNoGoroutineLeak(t) // registered first, so its cleanup runs last
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("WARREN_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	b, err := actors.NewBroker(actors.Options{AMQPAddr: "127.0.0.1:0", Logger: logger})
	require.NoError(t, err)
	require.NoError(t, b.Start())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, b.Shutdown(ctx))
	})
	return "amqp://" + b.Addr().String()
}

// Context is a context that ends after d or when the test ends.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// Session dials url and begins a session; the connection closes when the test ends.
func Session(t testing.TB, ctx context.Context, url string) *amqp.Session {
	t.Helper()
	conn, err := amqp.Dial(ctx, url, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	s, err := conn.NewSession(ctx, nil)
	require.NoError(t, err)
	return s
}

// checkNoGoroutineLeak waits up to 5 s for the goroutine count to fall back: some exit a little after
// the broker's Shutdown returns (protoactor's dead-letter throttle lives on for its 1 s window).
func checkNoGoroutineLeak(t testing.TB) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		after := runtime.NumGoroutine()
		for after > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
			after = runtime.NumGoroutine()
		}
		if after > before {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("%d goroutines alive after the broker shut down, %d before:\n%s", after, before, buf)
		}
	})
}
