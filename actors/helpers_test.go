package actors

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/require"
)

// testLogger is quiet unless WARREN_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("WARREN_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startBroker runs a broker on a free loopback port for the test's lifetime.
func startBroker(t testing.TB, mutate ...func(*Options)) *Broker {
	t.Helper()
	opts := Options{AMQPAddr: "127.0.0.1:0", Logger: testLogger()}
	for _, m := range mutate {
		m(&opts)
	}
	b, err := NewBroker(opts)
	require.NoError(t, err)
	require.NoError(t, b.Start())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, b.Shutdown(ctx))
	})
	return b
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dial(t testing.TB, b *Broker, opts *amqp.ConnOptions) *amqp.Conn {
	t.Helper()
	c, err := amqp.Dial(testCtx(t), "amqp://"+b.Addr().String(), opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func newSess(t testing.TB, c *amqp.Conn) *amqp.Session {
	t.Helper()
	s, err := c.NewSession(testCtx(t), nil)
	require.NoError(t, err)
	return s
}

func sender(t testing.TB, s *amqp.Session, target string, opts *amqp.SenderOptions) *amqp.Sender {
	t.Helper()
	snd, err := s.NewSender(testCtx(t), target, opts)
	require.NoError(t, err)
	return snd
}

func receiver(t testing.TB, s *amqp.Session, source string, opts *amqp.ReceiverOptions) *amqp.Receiver {
	t.Helper()
	r, err := s.NewReceiver(testCtx(t), source, opts)
	require.NoError(t, err)
	return r
}

func send(t testing.TB, s *amqp.Sender, body string) {
	t.Helper()
	require.NoError(t, s.Send(testCtx(t), amqp.NewMessage([]byte(body)), nil))
}

func recv(t testing.TB, r *amqp.Receiver) *amqp.Message {
	t.Helper()
	m, err := r.Receive(testCtx(t), nil)
	require.NoError(t, err)
	return m
}
