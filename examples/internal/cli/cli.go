// Package cli is the main of every example: a --url flag, a 30 s bound, SIGINT/SIGTERM, exit 1 on error.
package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Main parses --url and runs the example until it ends, is interrupted, or 30 s pass.
func Main(name string, run func(ctx context.Context, url string, out io.Writer) error) {
	url := flag.String("url", "amqp://localhost:5672", "AMQP 1.0 broker URL")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err := run(ctx, *url, os.Stdout)
	cancel()
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}
