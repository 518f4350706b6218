package main

import (
	"strings"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/examples/internal/brokertest"
	"github.com/warren-mq/warren/examples/internal/mgmt"
)

func TestRPC(t *testing.T) {
	url := brokertest.Start(t)
	var out strings.Builder
	require.NoError(t, run(brokertest.Context(t, 20*time.Second), url, &out))
	assert.Equal(t, `request fib-1: fib(1), reply to a temporary queue
request fib-2: fib(10), reply to a temporary queue
request fib-3: fib(30), reply to a temporary queue
request fib-4: fib(50), reply to a temporary queue
reply   fib-1: fib(1) = 1
reply   fib-2: fib(10) = 55
reply   fib-3: fib(30) = 832040
reply   fib-4: fib(50) = 12586269025
`, out.String())
}

// A request the server cannot answer is rejected, and the server goes on serving.
func TestRPCServerRejectsBadRequests(t *testing.T) {
	url := brokertest.Start(t)
	ctx := brokertest.Context(t, 20*time.Second)
	srv, err := startServer(ctx, url)
	require.NoError(t, err)

	conn, err := amqp.Dial(ctx, url, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	sess, err := conn.NewSession(ctx, nil)
	require.NoError(t, err)
	snd, err := sess.NewSender(ctx, mgmt.QueueAddress(queue), nil)
	require.NoError(t, err)
	require.NoError(t, snd.Send(ctx, &amqp.Message{Value: "not a number"}, nil))

	var out strings.Builder
	require.NoError(t, client(ctx, url, &out))
	assert.Contains(t, out.String(), "reply   fib-2: fib(10) = 55\n")
	require.NoError(t, srv.stop())

	m, err := mgmt.New(ctx, sess)
	require.NoError(t, err)
	qi, err := m.GetQueue(ctx, queue)
	require.NoError(t, err)
	assert.Equal(t, uint64(0), qi.MessageCount, "the bad request was rejected, not left in the queue")
}

func TestFib(t *testing.T) {
	for n, want := range []int64{0, 1, 1, 2, 3, 5, 8, 13} {
		assert.Equal(t, want, fib(int64(n)))
	}
	assert.Equal(t, int64(7540113804746346429), fib(92))
}
