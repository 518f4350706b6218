package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/warren-mq/warren/examples/internal/mgmt"
)

// reminders are published in this order to the x-delayed-message exchange "later"; they arrive in
// the order of their delays.
var reminders = []struct {
	text    string
	delayMs int64 // 0 = no x-delay annotation
}{
	{"stand up and stretch", 600},
	{"drink some water", 200},
	{"read this now", 0},
}

// orders are published to the direct exchange "orders", which the audit tap watches; only the key
// "new" is bound.
var orders = []struct{ text, key string }{
	{"order #1", "new"}, {"order #2", "new"}, {"refund #3", "refund"},
}

// runDemo declares its topology (as definitions.json does), then shows the delayed exchange and the
// audit tap at work.
func runDemo(ctx context.Context, url string, out io.Writer) (err error) {
	conn, err := amqp.Dial(ctx, url, nil)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", url, err)
	}
	defer func() { err = errors.Join(err, conn.Close()) }()
	s, err := conn.NewSession(ctx, nil)
	if err != nil {
		return err
	}
	if err := declare(ctx, s); err != nil {
		return err
	}

	// x-delayed-message: each reminder is accepted at once and routed x-delay ms after it came.
	snd, err := s.NewSender(ctx, mgmt.ExchangeAddress("later", "remind"), nil)
	if err != nil {
		return err
	}
	published := map[string]time.Time{}
	for _, r := range reminders {
		msg := amqp.NewMessage([]byte(r.text))
		if r.delayMs > 0 {
			msg.Annotations = amqp.Annotations{"x-delay": r.delayMs}
		}
		published[r.text] = time.Now()
		if err := snd.Send(ctx, msg, nil); err != nil {
			return fmt.Errorf("publishing %q: %w", r.text, err)
		}
		delay := "no x-delay"
		if r.delayMs > 0 {
			delay = fmt.Sprintf("x-delay %d ms", r.delayMs)
		}
		fmt.Fprintf(out, "published %q with %s: accepted\n", r.text, delay)
	}
	if _, err := receive(ctx, s, "reminders", len(reminders), func(body string) {
		fmt.Fprintf(out, "reminders got %q %d ms after publishing it\n", body, time.Since(published[body]).Milliseconds())
	}); err != nil {
		return err
	}

	// The audit tap: every message published to "orders" also goes to the queue "audit", whether or not
	// a binding of "orders" matches it.
	osnd, err := s.NewSender(ctx, mgmt.ExchangeAddress("orders", ""), nil)
	if err != nil {
		return err
	}
	for _, o := range orders {
		msg := amqp.NewMessage([]byte(o.text))
		msg.Properties = &amqp.MessageProperties{Subject: &o.key}
		r, err := osnd.SendWithReceipt(ctx, msg, nil)
		if err != nil {
			return err
		}
		state, err := r.Wait(ctx)
		if err != nil {
			return err
		}
		outcome := "accepted"
		if _, ok := state.(*amqp.StateReleased); ok {
			outcome = "released (no binding matches)"
		}
		fmt.Fprintf(out, "published %q with key %q to orders: %s\n", o.text, o.key, outcome)
	}
	for _, q := range []struct {
		name string
		n    int
	}{{"orders-in", 2}, {"audit", len(orders)}} {
		bodies, err := receive(ctx, s, q.name, q.n, nil)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s got %s\n", q.name, strings.Join(bodies, ", "))
	}
	return nil
}

// declare makes the demo's exchanges, queues and bindings, the same as definitions.json (declaring
// them again is harmless), and empties the queues so that a second run starts afresh.
func declare(ctx context.Context, s *amqp.Session) error {
	m, err := mgmt.New(ctx, s)
	if err != nil {
		return err
	}
	// The custom type is declared by its name, like any exchange.
	if err := m.DeclareExchange(ctx, "later", "x-delayed-message", mgmt.ExchangeOptions{Durable: true,
		Arguments: map[string]any{"x-delayed-type": "direct"}}); err != nil {
		return err
	}
	if err := m.DeclareExchange(ctx, "orders", "direct", mgmt.ExchangeOptions{Durable: true}); err != nil {
		return err
	}
	for _, q := range []string{"reminders", "orders-in", "audit"} {
		if _, err := m.DeclareQueue(ctx, q, mgmt.QueueOptions{Durable: true}); err != nil {
			return err
		}
		if _, err := m.PurgeQueue(ctx, q); err != nil {
			return err
		}
	}
	if err := m.Bind(ctx, "later", "reminders", "remind"); err != nil {
		return err
	}
	if err := m.Bind(ctx, "orders", "orders-in", "new"); err != nil {
		return err
	}
	return m.Close(ctx)
}

// receive takes n messages from a queue, accepting each, and returns their bodies in arrival order.
func receive(ctx context.Context, s *amqp.Session, queue string, n int, each func(body string)) (_ []string, err error) {
	r, err := s.NewReceiver(ctx, mgmt.QueueAddress(queue), &amqp.ReceiverOptions{Credit: int32(n)})
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, r.Close(ctx)) }()
	bodies := make([]string, 0, n)
	for range n {
		m, err := r.Receive(ctx, nil)
		if err != nil {
			return bodies, fmt.Errorf("%s: %w", queue, err)
		}
		if err := r.AcceptMessage(ctx, m); err != nil {
			return bodies, err
		}
		bodies = append(bodies, string(m.GetData()))
		if each != nil {
			each(string(m.GetData()))
		}
	}
	return bodies, nil
}
