package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/actors"
	"github.com/warren-mq/warren/examples/internal/brokertest"
	"github.com/warren-mq/warren/examples/internal/mgmt"
	"github.com/warren-mq/warren/protocol"
)

// startDaemon starts the example's broker in-process, as main does (with definitions.json when defs
// is set), until the test ends, and returns its URL.
func startDaemon(t *testing.T, defs string) string {
	t.Helper()
	opts, err := options("127.0.0.1:0", defs, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	b, err := actors.NewBroker(opts)
	require.NoError(t, err)
	require.NoError(t, b.Start())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, b.Shutdown(ctx))
	})
	return "amqp://" + b.Addr().String()
}

var arrival = regexp.MustCompile(`(?m)^reminders got "([^"]+)" (\d+) ms after publishing it$`)

func TestDemo(t *testing.T) {
	url := startDaemon(t, "definitions.json")
	for run := range 2 { // the demo empties its queues first: it repeats on one broker
		var out strings.Builder
		require.NoError(t, runDemo(brokertest.Context(t, 20*time.Second), url, &out))
		text := out.String()
		t.Logf("run %d:\n%s", run, text)

		// x-delayed-message: published 600 ms, 200 ms, none; each is accepted at once — otherwise the
		// 200 ms reminder, published after the 600 ms one was settled, could not overtake it — and
		// routed no sooner than its x-delay after it was published.
		got := arrival.FindAllStringSubmatch(text, -1)
		require.Len(t, got, 3, text)
		assert.Equal(t, []string{"read this now", "drink some water", "stand up and stretch"},
			[]string{got[0][1], got[1][1], got[2][1]}, "in the order of their delays, not of publishing")
		for _, g := range got {
			ms, err := strconv.Atoi(g[2])
			require.NoError(t, err)
			for _, r := range reminders {
				if r.text == g[1] {
					assert.GreaterOrEqual(t, int64(ms), r.delayMs, "%q is routed only once its x-delay has passed", r.text)
				}
			}
		}
		assert.Contains(t, text, `published "stand up and stretch" with x-delay 600 ms: accepted`)

		// The audit tap copies every message published to "orders", routed or not.
		assert.Contains(t, text, `published "refund #3" with key "refund" to orders: released (no binding matches)`)
		assert.Contains(t, text, "orders-in got order #1, order #2\n")
		assert.Contains(t, text, "audit got order #1, order #2, refund #3\n")
	}
}

// definitions.json alone declares the delayed exchange by its type name, with its queue and
// binding: a reminder published right after the start is delayed by its x-delay.
func TestDelayedExchangeFromDefinitionsFile(t *testing.T) {
	url := startDaemon(t, "definitions.json")
	ctx := brokertest.Context(t, 20*time.Second)
	s := brokertest.Session(t, ctx, url)
	m, err := mgmt.New(ctx, s)
	require.NoError(t, err)
	snd, err := s.NewSender(ctx, mgmt.ExchangeAddress("later", "remind"), nil)
	require.NoError(t, err)

	start := time.Now()
	require.NoError(t, snd.Send(ctx, &amqp.Message{Data: [][]byte{[]byte("later")}, Annotations: amqp.Annotations{"x-delay": int64(300)}}, nil))
	qi, err := m.GetQueue(ctx, "reminders")
	require.NoError(t, err)
	if time.Since(start) < 300*time.Millisecond { // not when this machine is too busy to tell
		assert.Zero(t, qi.MessageCount, "accepted, but not routed yet")
	}
	rcv, err := s.NewReceiver(ctx, mgmt.QueueAddress("reminders"), nil)
	require.NoError(t, err)
	msg, err := rcv.Receive(ctx, nil)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond, "routed no sooner than x-delay")
	assert.Equal(t, "later", string(msg.GetData()))
	assert.Equal(t, "later", msg.Annotations["x-exchange"])
	assert.Equal(t, "remind", msg.Annotations["x-routing-key"])
}

// A bad x-delayed-type, or an exchange type nobody registered, stops the start with a message that
// names the entry.
func TestDefinitionsRefuseBadDelayedExchanges(t *testing.T) {
	for _, tc := range []struct{ file, typ, args, want string }{
		{"bad-type.json", "x-delayed-message", `{"x-delayed-type": "nonsense"}`, `exchanges[0] "later"`},
		{"unknown.json", "x-unknown", `{}`, `exchange type "x-unknown" is not supported`},
	} {
		path := t.TempDir() + "/" + tc.file
		require.NoError(t, os.WriteFile(path, []byte(`{"vhosts": [{"name": "/"}], "exchanges": [{"name": "later", "vhost": "/",
			"type": "`+tc.typ+`", "durable": true, "arguments": `+tc.args+`}]}`), 0o600))
		opts, err := options("127.0.0.1:0", path, slog.New(slog.NewTextHandler(io.Discard, nil)))
		require.NoError(t, err, tc.file)
		_, err = actors.NewBroker(opts)
		require.Error(t, err, tc.file)
		assert.Contains(t, err.Error(), tc.want, tc.file)
		if tc.typ == "x-delayed-message" {
			assert.Contains(t, err.Error(), "x-delayed-type must be direct, fanout, topic or headers")
		}
	}
}

func TestXDelay(t *testing.T) {
	at := func(v any) protocol.Map { return protocol.Map{{Key: protocol.Symbol("x-delay"), Value: v}} }
	assert.Equal(t, 250*time.Millisecond, xDelay(at(int64(250))))
	assert.Equal(t, 7*time.Millisecond, xDelay(at(int32(7))))
	assert.Equal(t, 9*time.Millisecond, xDelay(at(uint8(9))))
	assert.Equal(t, 2*time.Second, xDelay(at(uint64(2000))))
	assert.LessOrEqual(t, xDelay(at(int64(-5))), time.Duration(0), "negative: routed at once")
	assert.Zero(t, xDelay(at("300")), "not an integer: no delay")
	assert.Zero(t, xDelay(protocol.Map{{Key: "x-delay", Value: int64(5)}}), "a string key is not the x-delay symbol")
	assert.Zero(t, xDelay(nil))
	assert.Positive(t, xDelay(at(uint64(1<<63))), "huge: clamped, not wrapped around")
}
