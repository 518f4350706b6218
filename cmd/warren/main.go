// Command warren runs the Warren AMQP 1.0 broker: it reads flags, WARREN_* variables and an optional
// config file, starts an actors.Broker, and shuts it down cleanly on SIGINT or SIGTERM (DESIGN.md §2).
//
// Exit codes: 0 after a clean shutdown (or --help, --version), 1 when the broker cannot start or stop
// cleanly, 2 for a bad flag, variable or config file.
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

	"github.com/warren-mq/warren/actors"
)

// version is Warren's version; release builds set it with -ldflags "-X main.version=1.2.3".
var version = "0.1.0-dev"

// shutdownTimeout bounds a graceful shutdown; a second signal ends the process at once.
const shutdownTimeout = 30 * time.Second

func main() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr, sigs))
}

// run is the daemon, parameterised for tests: it returns the exit code.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer, sigs chan os.Signal) int {
	cfg, err := loadConfig(args, getenv)
	switch {
	case errors.Is(err, flag.ErrHelp):
		printUsage(stdout)
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "warren: %v\nRun 'warren --help' for usage.\n", err)
		return 2
	case cfg.showVersion:
		fmt.Fprintf(stdout, "warren %s\n", version)
		return 0
	}
	cfg.logOutput = stderr
	actors.Version = version

	opts, err := cfg.brokerOptions()
	if err != nil {
		fmt.Fprintf(stderr, "warren: %v\n", err)
		return 1
	}
	log := opts.Logger
	slog.SetDefault(log)
	if cfg.configFile != "" {
		log.Info("config file loaded", "path", cfg.configFile)
	}

	b, err := actors.NewBroker(opts)
	if err != nil {
		fmt.Fprintf(stderr, "warren: %v\n", err)
		return 1
	}
	if err := b.Start(); err != nil {
		fmt.Fprintf(stderr, "warren: start: %v\n", err)
		// Release whatever Start had bound before it failed.
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			log.Error("shutdown after a failed start", "err", err)
		}
		return 1
	}

	sig := <-sigs
	for sig == syscall.SIGHUP { // SIGHUP reloads the TLS certificate; it does not stop the broker
		if err := b.ReloadTLS(); err != nil {
			log.Warn("SIGHUP: TLS reload", "err", err)
		}
		sig = <-sigs
	}
	signal.Stop(sigs) // from now on a second signal takes the default action: exit at once
	log.Info("shutting down", "signal", sig.String(), "timeout", shutdownTimeout.String())
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		log.Error("shutdown", "err", err)
		return 1
	}
	return 0 // the broker logged its own "broker stopped"
}
