package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/warren-mq/warren/actors/routing"
	"github.com/warren-mq/warren/protocol"
	"github.com/warren-mq/warren/supervision"
)

// HandleFailure supervises the vhost's exchanges and queues by supervision.Policies: restart (queues
// with backoff) and, past the failure limit, give up. It runs on the vhost's goroutine while the failed
// child is suspended, so it may read the child's instance.
//
// protoactor drops the message that panicked. So that nobody waits for it forever: a publish batch is
// refused (amqp:internal-error; producers may publish again, at-least-once), and the idempotent control
// messages (credit, consumer changes, settlements, stats) are delivered again after the restart.
func (v *vhost) HandleFailure(_ *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, rs *actor.RestartStatistics, reason, msg any) {
	kind := supervision.KindOf(child.Id)
	failures := rs.NumberOfFailures(supervision.Policies[kind].Window) + 1
	rs.Fail()
	d, giveUp, delay := supervision.Decide(kind, failures)
	v.b.restarts.Add(1)
	v.b.met.ActorRestarts.Add(bg, 1, v.b.met.KindLabels(string(kind)).Add...)
	inner, sender := actor.UnwrapEnvelopeMessage(msg), actor.UnwrapEnvelopeSender(msg)
	if batch, ok := inner.(*enqueueBatch); ok {
		refusePublishes(v.b.system.Root, batch.items, "the queue failed while storing the message")
	}
	if d == supervision.Stop {
		logActorFailure(v.log, child, reason, inner, "stop (given up after repeated failures)")
		if giveUp {
			v.giveUp(child)
		}
		sup.StopChildren(child)
		return
	}
	logActorFailure(v.log, child, reason, inner, d.String())
	restart := func() {
		sup.RestartChildren(child)
		switch inner.(type) {
		case *consumerCredit, *addConsumer, *removeConsumer, *settleBatch, *queueStats, *publishBatch:
			if sender != nil {
				v.b.system.Root.RequestWithCustomSender(child, inner, sender)
			} else {
				v.b.system.Root.Send(child, inner)
			}
		}
	}
	if delay > 0 {
		time.AfterFunc(delay, restart)
	} else {
		restart()
	}
}

// giveUp raises the alarm for a child that failed too often: a queue's consumers are detached with
// amqp:internal-error and the queue leaves the registry; an exchange leaves the registry.
func (v *vhost) giveUp(child *actor.PID) {
	for name, q := range v.queues {
		if !q.pid.Equal(child) {
			continue
		}
		v.log.Error("ALARM: queue failed repeatedly and was stopped", "queue", name)
		q.q.deleted = true // the queue is suspended: this write cannot race its goroutine
		for _, c := range q.q.consumers {
			v.b.system.Root.Send(c.link, &queueGone{queue: name, reason: &protocol.Error{Condition: protocol.ErrInternal,
				Description: "queue " + name + " failed repeatedly and was stopped"}})
		}
		delete(v.queues, name)
		v.b.queueIndex.Delete(queueKey{v.name, name})
		dest := routing.Destination{Name: name}
		v.b.system.Root.Send(v.defaultX, &removeDestination{dest: dest})
		kept := v.bindings[:0]
		for _, b := range v.bindings {
			if b.b.Destination == dest {
				if x := v.exchanges[b.source]; x != nil {
					v.b.system.Root.Send(x.pid, &removeDestination{dest: dest})
				}
				continue
			}
			kept = append(kept, b)
		}
		v.bindings = kept
		return
	}
	for name, x := range v.exchanges {
		if x.pid.Equal(child) {
			v.log.Error("ALARM: exchange failed repeatedly and was stopped", "exchange", name)
			delete(v.exchanges, name)
			return
		}
	}
}

func refusePublishes(ctx actor.SenderContext, items []publish, why string) {
	byLink := map[*actor.PID][]confirm{}
	for _, p := range items {
		if p.ref.link != nil {
			byLink[p.ref.link] = append(byLink[p.ref.link], confirm{seq: p.ref.seq, delta: -1,
				err: &protocol.Error{Condition: protocol.ErrInternal, Description: why}})
		}
	}
	for link, cs := range byLink {
		ctx.Send(link, &confirmBatch{items: cs})
	}
}

// exchangeRestarted: a restarted exchange asks for its bindings (DESIGN.md §1: rebuilt from the vhost).
type exchangeRestarted struct {
	name string
	pid  *actor.PID
}

// exchangeRebuilt follows the last binding: the exchange routes what it held meanwhile.
type exchangeRebuilt struct{}

func (v *vhost) rebind(ctx actor.Context, m *exchangeRestarted) {
	if m.name == "" {
		for name, q := range v.queues {
			ctx.Send(m.pid, &addBinding{b: routing.Binding{Destination: routing.Destination{Name: name}, Key: name}, pid: q.pid})
		}
	} else {
		for _, b := range v.bindings {
			if b.source != m.name {
				continue
			}
			var pid *actor.PID
			if b.b.Destination.Exchange {
				if d := v.exchanges[b.b.Destination.Name]; d != nil {
					pid = d.publishPID()
				}
			} else if q := v.queues[b.b.Destination.Name]; q != nil {
				pid = q.pid
			}
			if pid != nil {
				ctx.Send(m.pid, &addBinding{b: b.b, pid: pid})
			}
		}
	}
	ctx.Send(m.pid, &exchangeRebuilt{})
}
