// Customexchange is your own Warren daemon: the broker as a library, started with a custom exchange
// type (x-delayed-message) and an interceptor (an audit tap), then used by a go-amqp client.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/warren-mq/warren/actors"
	"github.com/warren-mq/warren/examples/internal/mgmt"
)

func main() {
	addr := flag.String("amqp-addr", "127.0.0.1:0", "where the broker listens")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := run(ctx, *addr, slog.New(slog.NewTextHandler(os.Stderr, nil)), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "customexchange:", err)
		os.Exit(1)
	}
}

// newBroker is the whole custom daemon: Warren with the extensions registered.
func newBroker(addr string, log *slog.Logger) (*actors.Broker, error) {
	return actors.NewBroker(actors.Options{
		AMQPAddr:      addr,
		Logger:        log,
		ExchangeTypes: []actors.ExchangeType{DelayedMessage},
		Interceptors:  []actors.Interceptor{AuditTap("orders", "audit")},
	})
}

func run(ctx context.Context, addr string, log *slog.Logger, out io.Writer) (err error) {
	b, err := newBroker(addr, log)
	if err != nil {
		return err
	}
	if err := b.Start(); err != nil {
		return err
	}
	defer func() { err = errors.Join(err, b.Shutdown(context.Background())) }()

	conn, err := amqp.Dial(ctx, "amqp://"+b.Addr().String(), nil)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, conn.Close()) }()
	s, err := conn.NewSession(ctx, nil)
	if err != nil {
		return err
	}
	m, err := mgmt.New(ctx, s)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, m.Close(ctx)) }()

	// The delayed exchange: declared by its type name, like any exchange.
	if err := m.DeclareExchange(ctx, "later", "x-delayed-message", mgmt.ExchangeOptions{Durable: true,
		Arguments: map[string]any{"x-delayed-type": "direct"}}); err != nil {
		return err
	}
	for _, q := range []string{"reminders", "orders-in", "audit"} {
		if _, err := m.DeclareQueue(ctx, q, mgmt.QueueOptions{Durable: true}); err != nil {
			return err
		}
	}
	if err := m.Bind(ctx, "later", "reminders", "remind"); err != nil {
		return err
	}
	if err := m.DeclareExchange(ctx, "orders", "direct", mgmt.ExchangeOptions{Durable: true}); err != nil {
		return err
	}
	if err := m.Bind(ctx, "orders", "orders-in", "new"); err != nil {
		return err
	}

	// A reminder due in 300 ms.
	snd, err := s.NewSender(ctx, mgmt.ExchangeAddress("later", "remind"), nil)
	if err != nil {
		return err
	}
	sent := time.Now()
	msg := &amqp.Message{Data: [][]byte{[]byte("stand up and stretch")}, Annotations: amqp.Annotations{"x-delay": int64(300)}}
	if err := snd.Send(ctx, msg, nil); err != nil {
		return err
	}
	fmt.Fprintf(out, "published a reminder with x-delay 300 ms (accepted at once: %s)\n", time.Since(sent).Round(100*time.Millisecond))
	got, err := receiveOne(ctx, s, "reminders")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "received %q after at least %d ms\n", got, time.Since(sent).Milliseconds()/100*100)

	// The audit tap copies what goes through "orders".
	osnd, err := s.NewSender(ctx, mgmt.ExchangeAddress("orders", "new"), nil)
	if err != nil {
		return err
	}
	if err := osnd.Send(ctx, amqp.NewMessage([]byte("order #1")), nil); err != nil {
		return err
	}
	for _, q := range []string{"orders-in", "audit"} {
		body, err := receiveOne(ctx, s, q)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s got %q\n", q, body)
	}
	return nil
}

func receiveOne(ctx context.Context, s *amqp.Session, queue string) (string, error) {
	r, err := s.NewReceiver(ctx, mgmt.QueueAddress(queue), nil)
	if err != nil {
		return "", err
	}
	defer r.Close(ctx)
	m, err := r.Receive(ctx, nil)
	if err != nil {
		return "", err
	}
	return string(m.GetData()), r.AcceptMessage(ctx, m)
}
