// Hello sends one message to a queue and receives it back.
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

const queue = "hello"

func main() { cli.Main("hello", run) }

func run(ctx context.Context, url string, out io.Writer) (err error) {
	conn, err := amqp.Dial(ctx, url, nil)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", url, err)
	}
	defer func() { err = errors.Join(err, conn.Close()) }()
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		return err
	}

	// Declare the queue through the /management node (a durable queue, as RabbitMQ 4 prefers).
	m, err := mgmt.New(ctx, sess)
	if err != nil {
		return err
	}
	if _, err := m.DeclareQueue(ctx, queue, mgmt.QueueOptions{Durable: true}); err != nil {
		return err
	}

	// Send: an unsettled transfer; Send returns once the broker has settled it "accepted".
	snd, err := sess.NewSender(ctx, mgmt.QueueAddress(queue), nil)
	if err != nil {
		return err
	}
	if err := snd.Send(ctx, amqp.NewMessage([]byte("Hello, World!")), nil); err != nil {
		return fmt.Errorf("sending: %w", err)
	}
	fmt.Fprintf(out, "sent to %s: Hello, World!\n", snd.Address())

	// Receive and accept it: accepting removes it from the queue.
	rcv, err := sess.NewReceiver(ctx, mgmt.QueueAddress(queue), nil)
	if err != nil {
		return err
	}
	msg, err := rcv.Receive(ctx, nil)
	if err != nil {
		return fmt.Errorf("receiving: %w", err)
	}
	if err := rcv.AcceptMessage(ctx, msg); err != nil {
		return fmt.Errorf("accepting: %w", err)
	}
	fmt.Fprintf(out, "received from %s: %s (exchange %q, routing key %q)\n",
		rcv.Address(), msg.GetData(), msg.Annotations["x-exchange"], msg.Annotations["x-routing-key"])
	return nil
}
