// Customexchange is your own Warren daemon: the broker as a library with two actors of yours, a custom
// exchange type (x-delayed-message, delayed.go) and an interceptor (an audit tap, audit.go). It runs
// until SIGINT or SIGTERM; with --demo it runs a go-amqp client against itself (demo.go) and exits.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/warren-mq/warren/actors"
	"github.com/warren-mq/warren/actors/definitions"
)

func main() {
	addr := flag.String("amqp-addr", "127.0.0.1:5672", "AMQP listener, host:port (port 0 = any)")
	defs := flag.String("definitions", "", "definitions.json applied at start (it may declare x-delayed-message exchanges)")
	demo := flag.Bool("demo", false, "run the demo client against this broker, then exit")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, *addr, *defs, *demo, log); err != nil {
		fmt.Fprintln(os.Stderr, "customexchange:", err)
		os.Exit(1)
	}
}

// options is Warren with our actors registered: the whole of the customisation.
func options(addr, defsFile string, log *slog.Logger) (actors.Options, error) {
	opts := actors.Options{
		AMQPAddr:      addr,
		Logger:        log,
		ExchangeTypes: []actors.ExchangeType{DelayedMessage},
		Interceptors:  []actors.Interceptor{AuditTap("orders", "audit")},
	}
	if defsFile != "" {
		d, err := definitions.Load(defsFile, log)
		if err != nil {
			return opts, err
		}
		opts.Definitions = d
	}
	return opts, nil
}

// serve starts the broker (it logs "listening" with its address) and stops it when ctx ends, or with
// demo once the demo has run.
func serve(ctx context.Context, addr, defsFile string, demo bool, log *slog.Logger) error {
	opts, err := options(addr, defsFile, log)
	if err != nil {
		return err
	}
	b, err := actors.NewBroker(opts)
	if err != nil {
		return err
	}
	if err := b.Start(); err != nil {
		return err
	}
	if demo {
		err = runDemo(ctx, "amqp://"+b.Addr().String(), os.Stdout)
	} else {
		<-ctx.Done()
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if serr := b.Shutdown(shutdown); serr != nil && err == nil {
		err = serr
	}
	return err
}
