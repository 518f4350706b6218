package main

import (
	"regexp"
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
	// Every request names the same reply queue: a temporary one the broker made for the client's
	// dynamic receiver (amq.gen-…), not a name the client chose.
	replyTo := regexp.MustCompile(`(?m)^request fib-\d: fib\(\d+\), reply to (/queues/amq\.gen-\S+)$`).FindAllStringSubmatch(out.String(), -1)
	require.Len(t, replyTo, len(requests), out.String())
	for _, r := range replyTo {
		assert.Equal(t, replyTo[0][1], r[1])
	}
	assert.Equal(t, `request fib-1: fib(1), reply to Q
request fib-2: fib(10), reply to Q
request fib-3: fib(30), reply to Q
request fib-4: fib(50), reply to Q
reply   fib-1: fib(1) = 1
reply   fib-2: fib(10) = 55
reply   fib-3: fib(30) = 832040
reply   fib-4: fib(50) = 12586269025
`, strings.ReplaceAll(out.String(), replyTo[0][1], "Q"))
}

// A request the server cannot answer is rejected, and the server goes on serving.
func TestRPCServerRejectsBadRequests(t *testing.T) {
	url := brokertest.Start(t)
	ctx := brokertest.Context(t, 20*time.Second)
	srv, err := startServer(ctx, url)
	require.NoError(t, err)

	sess := brokertest.Session(t, ctx, url)
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

// The client matches replies to requests by correlation-id, not by order: here the server answers
// the last request first.
func TestRPCRepliesOutOfOrder(t *testing.T) {
	url := brokertest.Start(t)
	ctx := brokertest.Context(t, 20*time.Second)
	sess := brokertest.Session(t, ctx, url)
	m, err := mgmt.New(ctx, sess)
	require.NoError(t, err)
	_, err = m.DeclareQueue(ctx, queue, mgmt.QueueOptions{Durable: true})
	require.NoError(t, err)
	rcv, err := sess.NewReceiver(ctx, mgmt.QueueAddress(queue), &amqp.ReceiverOptions{Credit: int32(len(requests))})
	require.NoError(t, err)
	replies, err := sess.NewSender(ctx, "", nil)
	require.NoError(t, err)

	served := make(chan error, 1)
	go func() {
		var reqs []*amqp.Message
		for range requests {
			req, err := rcv.Receive(ctx, nil)
			if err != nil {
				served <- err
				return
			}
			reqs = append(reqs, req)
		}
		for i := len(reqs) - 1; i >= 0; i-- {
			req := reqs[i]
			n, _ := req.Value.(int64)
			reply := &amqp.Message{Properties: &amqp.MessageProperties{To: req.Properties.ReplyTo, CorrelationID: req.Properties.MessageID}, Value: fib(n)}
			if err := replies.Send(ctx, reply, nil); err != nil {
				served <- err
				return
			}
			if err := rcv.AcceptMessage(ctx, req); err != nil {
				served <- err
				return
			}
		}
		served <- nil
	}()

	var out strings.Builder
	require.NoError(t, client(ctx, url, &out))
	require.NoError(t, <-served)
	assert.Contains(t, out.String(), `reply   fib-1: fib(1) = 1
reply   fib-2: fib(10) = 55
reply   fib-3: fib(30) = 832040
reply   fib-4: fib(50) = 12586269025
`)
}
