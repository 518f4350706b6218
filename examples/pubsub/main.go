// Pubsub publishes to a fanout exchange; several subscribers, each with a temporary queue of its own
// bound to the exchange, all get every message.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/Azure/go-amqp"
	"github.com/warren-mq/warren/examples/internal/cli"
	"github.com/warren-mq/warren/examples/internal/mgmt"
)

const (
	exchange    = "logs"
	subscribers = 3
)

var messages = []string{"info: service started", "warning: disk 91% full", "error: cannot reach the database"}

func main() { cli.Main("pubsub", run) }

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
	m, err := mgmt.New(ctx, sess)
	if err != nil {
		return err
	}
	if err := m.DeclareExchange(ctx, exchange, "fanout", mgmt.ExchangeOptions{Durable: true}); err != nil {
		return err
	}

	// Each subscriber asks for a dynamic source: the broker creates a temporary, exclusive queue
	// (amq.gen-…), returns its address in the attach, and deletes it when the link goes away.
	subs := make([]*amqp.Receiver, subscribers)
	for i := range subs {
		rcv, err := sess.NewReceiver(ctx, "", &amqp.ReceiverOptions{DynamicAddress: true})
		if err != nil {
			return fmt.Errorf("subscriber %d: %w", i+1, err)
		}
		subs[i] = rcv
		name, err := mgmt.QueueName(rcv.Address())
		if err != nil {
			return err
		}
		// A fanout exchange ignores the binding key.
		if err := m.Bind(ctx, exchange, name, ""); err != nil {
			return err
		}
		fmt.Fprintf(out, "subscriber %d: temporary queue bound to %q\n", i+1, exchange)
	}

	pub, err := sess.NewSender(ctx, mgmt.ExchangeAddress(exchange, ""), nil)
	if err != nil {
		return err
	}
	for _, text := range messages {
		// accepted once every queue the exchange routed it to holds it
		if err := pub.Send(ctx, amqp.NewMessage([]byte(text)), nil); err != nil {
			return fmt.Errorf("publishing: %w", err)
		}
	}
	fmt.Fprintf(out, "published %d messages to %s\n", len(messages), pub.Address())

	for i, rcv := range subs {
		got := make([]string, 0, len(messages))
		for range messages {
			msg, err := rcv.Receive(ctx, nil)
			if err != nil {
				return fmt.Errorf("subscriber %d: %w", i+1, err)
			}
			if err := rcv.AcceptMessage(ctx, msg); err != nil {
				return fmt.Errorf("subscriber %d: %w", i+1, err)
			}
			got = append(got, string(msg.GetData()))
		}
		fmt.Fprintf(out, "subscriber %d got: %s\n", i+1, strings.Join(got, " | "))
	}
	// Detaching a dynamic receiver deletes its temporary queue, and with it the binding.
	for _, rcv := range subs {
		if err := rcv.Close(ctx); err != nil {
			return err
		}
	}
	return nil
}
