package daemon_test

import (
	"os"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/warren-mq/warren/actors"
	"github.com/warren-mq/warren/cmd/warren/daemon"
)

// A daemon of your own: cmd/warren's flags, WARREN_* variables, config file, OTEL_* telemetry and
// signals, plus your actors (here an interceptor on the exchange "orders"; see actors.Interceptor).
func ExampleMain() {
	tap := actors.Interceptor{Exchange: "orders", New: newAuditTap}
	os.Exit(daemon.Main(func(o *actors.Options) {
		o.Interceptors = append(o.Interceptors, tap)
	}))
}

// newAuditTap would build the interceptor actor (examples/customexchange/audit.go has a real one).
var newAuditTap func(env *actors.ExchangeEnv) actor.Actor
