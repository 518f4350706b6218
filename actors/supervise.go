package actors

import (
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/warren-mq/warren/protocol"
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

func (s childStrategy) HandleFailure(sys *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, rs *actor.RestartStatistics, reason, msg any) {
	f := decideFailure(child, rs, reason, msg)
	f.record(s.log, s.failures, s.met)
	if f.kind == supervision.Vhost {
		answerDropped(sys.Root, f)
		if f.giveUp {
			s.log.Error("ALARM: virtual host failed repeatedly and was stopped", "actor", child.Id, "failures", f.count)
		}
	}
	if f.directive == supervision.Stop {
		sup.StopChildren(child)
		return
	}
	sup.RestartChildren(child)
	if m, ok := f.msg.(*deleteQueue); ok && f.kind == supervision.Vhost {
		// A deletion is not lost with the message: the restarted vhost (its durable queues rebuilt from
		// the store) deletes the queue after all.
		sys.Root.Send(child, m)
	}
}

// failure is one supervised failure as supervision.Policies decide it.
type failure struct {
	child     *actor.PID
	kind      supervision.Kind
	count     int // failures of the child within its kind's window, this one included
	directive supervision.Directive
	giveUp    bool          // past the kind's failure limit: stopped for good, alarm raised
	delay     time.Duration // restart backoff
	reason    any
	msg       any        // the message that panicked: protoactor drops it
	sender    *actor.PID // its sender, when it was a request
}

func decideFailure(child *actor.PID, rs *actor.RestartStatistics, reason, msg any) failure {
	kind := supervision.KindOf(child.Id)
	f := failure{child: child, kind: kind, count: rs.NumberOfFailures(supervision.Policies[kind].Window) + 1, reason: reason,
		msg: actor.UnwrapEnvelopeMessage(msg), sender: actor.UnwrapEnvelopeSender(msg)}
	rs.Fail()
	f.directive, f.giveUp, f.delay = supervision.Decide(kind, f.count)
	return f
}

// record logs the failure with the actor's path and counts it in the actor-restarts metric (DESIGN.md §1:
// every failure is logged and counted).
func (f failure) record(log *slog.Logger, failures *atomic.Int64, met *telemetry.Metrics) {
	failures.Add(1)
	met.ActorRestarts.Add(bg, 1, met.KindLabels(string(f.kind)).Add...)
	how := f.directive.String()
	if f.giveUp {
		how = "stop (given up after repeated failures)"
	}
	attrs := []any{"failures", f.count}
	if f.delay > 0 {
		attrs = append(attrs, "backoff", f.delay)
	}
	logActorFailure(log, f.child, f.reason, f.msg, how, attrs...)
}

// logActorFailure logs a supervised failure with the actor's path (DESIGN.md §1: every failure is logged).
func logActorFailure(log *slog.Logger, child *actor.PID, reason, msg any, directive string, attrs ...any) {
	log.Error("actor failed", slices.Concat([]any{"actor", child.Id, "kind", string(supervision.KindOf(child.Id)),
		"reason", fmt.Sprint(reason), "message", fmt.Sprintf("%T", actor.UnwrapEnvelopeMessage(msg)), "directive", directive}, attrs)...)
}

// answerDropped answers the request a vhost was handling when it panicked, since protoactor drops that
// message: an attach is refused with amqp:internal-error, a declaration or management request fails, a
// relayed publish is refused (the producer may send it again). Nobody waits for a timeout.
func answerDropped(ctx actor.SenderContext, f failure) {
	err := &protocol.Error{Condition: protocol.ErrInternal, Description: "the virtual host failed while handling this request"}
	var reply any
	switch m := f.msg.(type) {
	case *resolveTarget:
		reply = &targetResolved{err: err}
	case *resolveSource:
		reply = &sourceResolved{err: err}
	case *declareQueue, *declareExchange, *declareBinding, *vhostReady:
		reply = &opResult{err: err}
	case *mgmtRequest:
		reply = mgmtErr(500, "%s", err.Description)
	case *publishTo:
		refusePublishes(ctx, []publish{m.item}, err.Description)
	}
	if reply != nil && f.sender != nil {
		ctx.Send(f.sender, reply)
	}
}

// Alarm is a condition an operator has to see (RabbitMQ's resource alarms, plus Warren's supervision):
// the memory alarm while it is on, and every actor given up after repeated failures (DESIGN.md §1).
type Alarm struct {
	Kind   string    `json:"kind"`            // "memory", or the kind of actor given up: "queue", "exchange"
	Vhost  string    `json:"vhost,omitempty"` // of a given-up queue or exchange
	Name   string    `json:"name,omitempty"`  // the queue or exchange
	Actor  string    `json:"actor,omitempty"` // the actor's path, as in the failure logs
	Reason string    `json:"reason"`
	Raised time.Time `json:"raised"`
}

// Alarms lists the broker's alarms: the memory alarm while memory is above the high-water mark, and
// each queue or exchange stopped after failing repeatedly (listed until the broker restarts).
func (b *Broker) Alarms() []Alarm {
	alarms := b.memory.alarms()
	if b.store != nil {
		if err := b.store.Err(); err != nil {
			alarms = append(alarms, Alarm{Kind: "disk", Reason: "the durable store cannot write: " + err.Error() +
				"; durable publishes are refused until a write succeeds"})
		}
	}
	return alarms
}

// health feeds the warren_store_healthy and warren_alarms gauges.
func (b *Broker) health(alarm func(kind string, n int64)) (hasStore, storeHealthy bool) {
	counts := map[string]int64{"memory": 0, "disk": 0}
	for _, a := range b.Alarms() {
		counts[a.Kind]++
	}
	for kind, n := range counts {
		alarm(kind, n)
	}
	if b.store == nil {
		return false, false
	}
	return true, b.store.Err() == nil
}
