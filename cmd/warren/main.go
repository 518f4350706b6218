// Command warren runs the Warren AMQP 1.0 broker: flags, WARREN_* variables and an optional config
// file, the OTEL_* environment for telemetry, SIGINT/SIGTERM for a clean shutdown and SIGHUP to reload
// TLS (DESIGN.md §2). It is daemon.Main with no additions: a daemon with your own actors is the same
// line with a customize function (see package daemon).
package main

import (
	"os"

	"github.com/warren-mq/warren/cmd/warren/daemon"
)

func main() { os.Exit(daemon.Main(nil)) }
