// RPC does request/reply: the client sends requests to a queue with reply-to set to its own temporary
// (dynamic) queue and a message-id; the server answers each request at its reply-to address with the
// request's message-id as correlation-id.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/Azure/go-amqp"
	"github.com/warren-mq/warren/examples/internal/cli"
	"github.com/warren-mq/warren/examples/internal/mgmt"
)

const queue = "rpc_queue"

// The requests: compute Fibonacci numbers.
var requests = []int64{1, 10, 30, 50}

func main() { cli.Main("rpc", run) }

// run starts a server, makes the requests as a client, and stops the server.
func run(ctx context.Context, url string, out io.Writer) (err error) {
	srv, err := startServer(ctx, url)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, srv.stop()) }()
	return client(ctx, url, out)
}

func client(ctx context.Context, url string, out io.Writer) (err error) {
	conn, err := amqp.Dial(ctx, url, nil)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", url, err)
	}
	defer func() { err = errors.Join(err, conn.Close()) }()
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		return err
	}
	// The reply queue: a dynamic source gives us a temporary queue of our own.
	replies, err := sess.NewReceiver(ctx, "", &amqp.ReceiverOptions{DynamicAddress: true, Credit: int32(len(requests))})
	if err != nil {
		return err
	}
	replyTo := replies.Address()
	snd, err := sess.NewSender(ctx, mgmt.QueueAddress(queue), nil)
	if err != nil {
		return err
	}

	// Send every request first, then match the answers by correlation-id: they may come in any order.
	pending := map[string]int64{}
	for i, n := range requests {
		id := fmt.Sprintf("fib-%d", i+1)
		msg := &amqp.Message{Properties: &amqp.MessageProperties{MessageID: id, ReplyTo: &replyTo}, Value: n}
		if err := snd.Send(ctx, msg, nil); err != nil {
			return fmt.Errorf("request %s: %w", id, err)
		}
		pending[id] = n
		fmt.Fprintf(out, "request %s: fib(%d), reply to %s\n", id, n, replyTo)
	}
	answers := map[string]int64{}
	for len(answers) < len(requests) {
		msg, err := replies.Receive(ctx, nil)
		if err != nil {
			return fmt.Errorf("waiting for replies: %w", err)
		}
		if err := replies.AcceptMessage(ctx, msg); err != nil {
			return err
		}
		var id string
		if msg.Properties != nil {
			id, _ = msg.Properties.CorrelationID.(string)
		}
		if _, ok := pending[id]; !ok {
			return fmt.Errorf("a reply with unknown correlation-id %v", id)
		}
		v, ok := msg.Value.(int64)
		if !ok {
			return fmt.Errorf("reply %s: value %T, want int64", id, msg.Value)
		}
		answers[id] = v
	}
	for i, n := range requests {
		id := fmt.Sprintf("fib-%d", i+1)
		fmt.Fprintf(out, "reply   %s: fib(%d) = %d\n", id, n, answers[id])
	}
	return nil
}

type server struct {
	cancel context.CancelFunc
	done   chan error
}

// startServer declares the request queue, attaches to it and answers requests in a goroutine until
// stop is called.
func startServer(ctx context.Context, url string) (*server, error) {
	conn, err := amqp.Dial(ctx, url, nil)
	if err != nil {
		return nil, fmt.Errorf("server: connecting to %s: %w", url, err)
	}
	rcv, replies, err := attachServer(ctx, conn)
	if err != nil {
		return nil, errors.Join(err, conn.Close())
	}
	stopCtx, cancel := context.WithCancel(ctx)
	s := &server{cancel: cancel, done: make(chan error, 1)}
	go func() {
		err := serve(stopCtx, ctx, rcv, replies)
		s.done <- errors.Join(err, conn.Close())
	}()
	return s, nil
}

func (s *server) stop() error {
	s.cancel()
	return <-s.done
}

func attachServer(ctx context.Context, conn *amqp.Conn) (*amqp.Receiver, *amqp.Sender, error) {
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	m, err := mgmt.New(ctx, sess)
	if err != nil {
		return nil, nil, err
	}
	if _, err := m.DeclareQueue(ctx, queue, mgmt.QueueOptions{Durable: true}); err != nil {
		return nil, nil, err
	}
	rcv, err := sess.NewReceiver(ctx, mgmt.QueueAddress(queue), nil)
	if err != nil {
		return nil, nil, err
	}
	// A sender with a null target (the "anonymous relay"): each message's properties.to says where it
	// goes, so one link answers every client.
	replies, err := sess.NewSender(ctx, "", nil)
	if err != nil {
		return nil, nil, err
	}
	return rcv, replies, nil
}

// serve answers requests until stop ends; a request in hand when it does is still answered (ctx
// bounds that work).
func serve(stop, ctx context.Context, rcv *amqp.Receiver, replies *amqp.Sender) error {
	for {
		req, err := rcv.Receive(stop, nil)
		if err != nil {
			if stop.Err() != nil {
				return nil // stopped
			}
			return fmt.Errorf("server: %w", err)
		}
		n, ok := req.Value.(int64)
		if !ok || req.Properties == nil || req.Properties.ReplyTo == nil || n < 0 || n > 92 {
			// Not a request we can answer: reject it (the queue dead-letters or drops it).
			if err := rcv.RejectMessage(ctx, req, &amqp.Error{Condition: amqp.ErrCondDecodeError, Description: "want an int64 in 0..92 and reply-to"}); err != nil {
				return fmt.Errorf("server: %w", err)
			}
			continue
		}
		reply := &amqp.Message{
			Properties: &amqp.MessageProperties{To: req.Properties.ReplyTo, CorrelationID: req.Properties.MessageID},
			Value:      fib(n),
		}
		if err := replies.Send(ctx, reply, nil); err != nil {
			return fmt.Errorf("server: replying: %w", err)
		}
		// Accept the request only once its answer is out: if the server died before, the request
		// would go back to the queue for another server.
		if err := rcv.AcceptMessage(ctx, req); err != nil {
			return fmt.Errorf("server: %w", err)
		}
	}
}

func fib(n int64) int64 {
	a, b := int64(0), int64(1)
	for range n {
		a, b = b, a+b
	}
	return a
}
