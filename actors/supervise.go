package actors

import (
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/warren-mq/warren/supervision"
	"github.com/warren-mq/warren/telemetry"
)

// brokerChildStrategy supervises the broker supervisor's children by supervision.Policies: a connection
// that panics is stopped (its Stopped handler sends close with amqp:internal-error); a vhost restarts.
func brokerChildStrategy(log *slog.Logger, failures *atomic.Int64, met *telemetry.Metrics) actor.SupervisorStrategy {
	return childStrategy{log: log, failures: failures, met: met}
}

type childStrategy struct {
	log      *slog.Logger
	failures *atomic.Int64
	met      *telemetry.Metrics
}

func (s childStrategy) HandleFailure(_ *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, rs *actor.RestartStatistics, reason, msg any) {
	kind := supervision.KindOf(child.Id)
	n := rs.NumberOfFailures(supervision.Policies[kind].Window) + 1
	rs.Fail()
	s.failures.Add(1)
	s.met.ActorRestarts.Add(bg, 1, s.met.KindLabels(string(kind)).Add...)
	d, giveUp, _ := supervision.Decide(kind, n)
	if d == supervision.Stop {
		how := "stop"
		if giveUp {
			how = "stop (given up after repeated failures)"
		}
		logActorFailure(s.log, child, reason, msg, how)
		sup.StopChildren(child)
		return
	}
	logActorFailure(s.log, child, reason, msg, d.String())
	sup.RestartChildren(child)
}

// logActorFailure logs a supervised failure with the actor's path (DESIGN.md §1: every failure is logged).
func logActorFailure(log *slog.Logger, child *actor.PID, reason, msg any, directive string) {
	log.Error("actor failed", "actor", child.Id, "kind", string(supervision.KindOf(child.Id)), "reason", fmt.Sprint(reason),
		"message", fmt.Sprintf("%T", actor.UnwrapEnvelopeMessage(msg)), "directive", directive)
}
