// Topics routes messages through a topic exchange: binding keys are patterns of dot-separated words
// where "*" stands for exactly one word and "#" for zero or more. It prints which queue gets which
// routing key.
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

const exchange = "topic_animals"

// The bindings of RabbitMQ's topic tutorial: Q1 wants every orange animal, Q2 every rabbit and
// everything lazy.
var bindings = []struct {
	queue string
	keys  []string
}{
	{"Q1", []string{"*.orange.*"}},
	{"Q2", []string{"*.*.rabbit", "lazy.#"}},
}

// Routing keys: <speed>.<colour>.<species>, and a few that do not have three words.
var keys = []string{
	"quick.orange.rabbit", "lazy.orange.elephant", "quick.orange.fox", "lazy.brown.fox",
	"lazy.pink.rabbit", "quick.brown.fox", "orange", "quick.orange.new.rabbit",
	"lazy.orange.new.rabbit", "lazy",
}

// endOfRun marks the end of a queue's messages: it is sent straight to each queue after the others.
const endOfRun = "end-of-run"

func main() { cli.Main("topics", run) }

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
	if err := m.DeclareExchange(ctx, exchange, "topic", mgmt.ExchangeOptions{Durable: true}); err != nil {
		return err
	}

	// One temporary queue per consumer (a dynamic source), bound with its patterns.
	rcvs := make([]*amqp.Receiver, len(bindings))
	for i, b := range bindings {
		rcv, err := sess.NewReceiver(ctx, "", &amqp.ReceiverOptions{DynamicAddress: true})
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, rcv.Close(ctx)) }()
		rcvs[i] = rcv
		name, err := mgmt.QueueName(rcv.Address())
		if err != nil {
			return err
		}
		for _, key := range b.keys {
			if err := m.Bind(ctx, exchange, name, key); err != nil {
				return err
			}
		}
		fmt.Fprintf(out, "%s is bound with %s\n", b.queue, strings.Join(b.keys, " and "))
	}

	// Publish to /exchanges/topic_animals; each message's subject is its routing key. Unsettled, so
	// the outcome tells whether any queue took it: accepted, or released when no binding matched.
	pub, err := sess.NewSender(ctx, mgmt.ExchangeAddress(exchange, ""), nil)
	if err != nil {
		return err
	}
	unrouted := map[string]bool{}
	for _, key := range keys {
		msg := amqp.NewMessage([]byte("a message about a " + key))
		msg.Properties = &amqp.MessageProperties{Subject: &key}
		receipt, err := pub.SendWithReceipt(ctx, msg, nil)
		if err != nil {
			return fmt.Errorf("publishing %s: %w", key, err)
		}
		state, err := receipt.Wait(ctx)
		if err != nil {
			return fmt.Errorf("publishing %s: %w", key, err)
		}
		switch state.(type) {
		case *amqp.StateAccepted:
		case *amqp.StateReleased:
			unrouted[key] = true
		default:
			return fmt.Errorf("publishing %s: settled %T", key, state)
		}
	}

	// Read each queue up to a marker sent straight to it: queues keep order, so by then the queue
	// has handed over everything the exchange routed to it.
	got := map[string][]string{} // routing key → queues
	for i, rcv := range rcvs {
		marker, err := sess.NewSender(ctx, rcv.Address(), nil)
		if err != nil {
			return err
		}
		if err := marker.Send(ctx, amqp.NewMessage([]byte(endOfRun)), nil); err != nil {
			return err
		}
		if err := marker.Close(ctx); err != nil {
			return err
		}
		for {
			msg, err := rcv.Receive(ctx, nil)
			if err != nil {
				return fmt.Errorf("%s: %w", bindings[i].queue, err)
			}
			if err := rcv.AcceptMessage(ctx, msg); err != nil {
				return err
			}
			if string(msg.GetData()) == endOfRun {
				break
			}
			key, _ := msg.Annotations["x-routing-key"].(string) // added by the broker on delivery
			got[key] = append(got[key], bindings[i].queue)
		}
	}

	for _, key := range keys {
		switch {
		case unrouted[key]:
			fmt.Fprintf(out, "%-24s → nobody (released)\n", key)
		default:
			fmt.Fprintf(out, "%-24s → %s\n", key, strings.Join(got[key], ", "))
		}
	}
	return nil
}
