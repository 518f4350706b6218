// Package daemon is the Warren daemon (cmd/warren) as a library, so that your own daemon with your own
// actors (custom exchange types, interceptors: actors.Options) gets everything cmd/warren has —
// flags, WARREN_* variables, the config file, OTEL_* telemetry, signals — in a few lines:
//
//	func main() {
//		os.Exit(daemon.Main(func(o *actors.Options) {
//			o.ExchangeTypes = append(o.ExchangeTypes, myExchangeType)
//		}))
//	}
//
// The daemon reads flags, WARREN_* variables and an optional config file, starts an actors.Broker,
// and shuts it down cleanly on SIGINT or SIGTERM (DESIGN.md §2).
//
// Telemetry (DESIGN.md §7) is configured from the standard OTEL_* environment: with
// OTEL_EXPORTER_OTLP_ENDPOINT set, spans are exported over OTLP and flushed at shutdown; metrics are
// always served at /metrics on --http-addr. Log records written inside a traced operation carry its
// trace_id and span_id.
//
// Exit codes: 0 after a clean shutdown (or --help, --version), 1 when the broker cannot start or stop
// cleanly, 2 for a bad flag, variable (WARREN_* or OTEL_*) or config file.
package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/warren-mq/warren/actors"
	"github.com/warren-mq/warren/telemetry"
)

// Version is Warren's version; release builds set it with
// -ldflags "-X github.com/warren-mq/warren/cmd/warren/daemon.Version=1.2.3".
var Version = "0.1.0-dev"

// shutdownTimeout bounds a graceful shutdown; a second signal ends the process at once.
const shutdownTimeout = 30 * time.Second

// telemetryFlushTimeout bounds the export of the last spans once the broker has stopped, so an
// unreachable collector cannot hold the process.
const telemetryFlushTimeout = 5 * time.Second

// Main runs the daemon on the process's arguments, environment and signals and returns its exit code
// (for os.Exit). customize, when not nil, changes the broker's options once the configuration is read
// and before the broker is built: add your actors there.
func Main(customize func(*actors.Options)) int {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	return Run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr, sigs, customize)
}

// Run is Main with its inputs given: arguments, environment, output, and the channel the stopping
// signals arrive on (SIGHUP reloads TLS).
func Run(args []string, getenv func(string) string, stdout, stderr io.Writer, sigs chan os.Signal, customize func(*actors.Options)) int {
	cfg, err := loadConfig(args, getenv)
	switch {
	case errors.Is(err, flag.ErrHelp):
		printUsage(stdout)
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "warren: %v\nRun 'warren --help' for usage.\n", err)
		return 2
	case cfg.showVersion:
		fmt.Fprintf(stdout, "warren %s\n", Version)
		return 0
	}
	cfg.logOutput = stderr
	actors.Version = Version

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

	tel, err := telemetry.Setup(context.Background(), telemetry.Options{
		ServiceVersion: Version, Getenv: getenv, Logger: log,
	})
	if err != nil {
		fmt.Fprintf(stderr, "warren: %v\n", err)
		return 2 // an invalid OTEL_* variable
	}
	defer flushTelemetry(tel, log) // after the broker's Shutdown: its last spans are exported too
	opts.Telemetry = tel
	if customize != nil {
		customize(&opts)
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
	// Start-up garbage (the actor system's first process registry, recovery's scratch, parsed
	// configuration) is returned to the operating system now rather than whenever the runtime's
	// background scavenger gets to it: one collection, once, right after start-up.
	debug.FreeOSMemory()

	var sig os.Signal
	for sig == nil || sig == syscall.SIGHUP { // SIGHUP reloads the TLS certificate; it does not stop the broker
		if sig != nil {
			if err := b.ReloadTLS(); err != nil {
				log.Warn("SIGHUP: TLS reload", "err", err)
			}
		}
		select {
		case sig = <-sigs:
		case <-b.Failed(): // the broker stopped itself (its supervisor failed; logged as an ALARM)
			return 1
		}
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

// flushTelemetry exports the spans still buffered and stops the providers, within
// telemetryFlushTimeout. A collector that cannot be reached costs those spans, not the exit code: the
// broker itself stopped cleanly.
func flushTelemetry(tel *telemetry.Telemetry, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), telemetryFlushTimeout)
	defer cancel()
	if err := tel.Shutdown(ctx); err != nil {
		log.Warn("telemetry: flushing spans at shutdown", "err", err)
	}
}
