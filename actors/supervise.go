package actors

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// brokerChildStrategy supervises the broker supervisor's children (DESIGN.md §1): a connection that
// panics is stopped (its Stopped handler sends close with amqp:internal-error); a vhost restarts.
func brokerChildStrategy(log *slog.Logger) actor.SupervisorStrategy {
	return childStrategy{log: log}
}

type childStrategy struct{ log *slog.Logger }

func (s childStrategy) HandleFailure(_ *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, rs *actor.RestartStatistics, reason, msg any) {
	if strings.Contains(child.Id, "/conn-") {
		logActorFailure(s.log, child, reason, msg, "stop")
		sup.StopChildren(child)
		return
	}
	if rs.NumberOfFailures(10*time.Second) >= 10 {
		logActorFailure(s.log, child, reason, msg, "stop (too many failures)")
		sup.StopChildren(child)
		return
	}
	rs.Fail()
	logActorFailure(s.log, child, reason, msg, "restart")
	sup.RestartChildren(child)
}

// logActorFailure logs a supervised failure with the actor's path (DESIGN.md §1: every failure is logged).
func logActorFailure(log *slog.Logger, child *actor.PID, reason, msg any, directive string) {
	log.Error("actor failed", "actor", child.Id, "reason", fmt.Sprint(reason), "message", fmt.Sprintf("%T", msg), "directive", directive)
}
