package actors

import (
	"fmt"
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
// A restarted child keeps its instance (the producers return the same one): a queue keeps its messages,
// consumers and unsettled deliveries; an exchange asks the vhost for its bindings again. protoactor drops
// the message that panicked. So that nobody waits for it forever, a publish batch for a queue is refused
// (amqp:internal-error; producers may publish again, at-least-once), and the messages that are safe to
// apply twice are delivered again after the restart (redeliver).
func (v *vhost) HandleFailure(_ *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, rs *actor.RestartStatistics, reason, msg any) {
	f := decideFailure(child, rs, reason, msg)
	f.record(v.log, &v.b.restarts, v.b.met)
	if batch, ok := f.msg.(*enqueueBatch); ok {
		refusePublishes(v.b.system.Root, batch.items, "the queue failed while storing the message")
	}
	if f.directive == supervision.Stop {
		if f.giveUp {
			v.giveUp(f)
		}
		answerStopped(v.b.system.Root, f)
		sup.StopChildren(child)
		return
	}
	restart := func() {
		sup.RestartChildren(child)
		if redeliver(f.msg) {
			if f.sender != nil {
				v.b.system.Root.RequestWithCustomSender(child, f.msg, f.sender)
			} else {
				v.b.system.Root.Send(child, f.msg)
			}
		}
	}
	if f.delay > 0 {
		time.AfterFunc(f.delay, restart)
	} else {
		restart()
	}
}

// redeliver tells the messages a restarted queue or exchange gets again: each is safe to apply twice
// (a consumer registers once, a settlement or a store confirmation applies to what is still unsettled or
// pending, a deletion or purge of what is already gone changes nothing), and losing it would leave
// someone waiting for ever — a producer for its durable confirmation, a consumer for its queue's
// deletion, a queue for its TTL or x-expires timer, a requester for its answer.
func redeliver(msg any) bool {
	switch msg.(type) {
	case *consumerCredit, *addConsumer, *removeConsumer, *settleBatch, *queueStats, *queuePurge,
		*storedBatch, *queueDelete, *ttlTick, *idleTick, // queue
		*publishBatch, *exchangeDeleted: // exchange (a restarted exchange holds publishes until rebuilt)
		return true
	}
	return false
}

// giveUp raises the alarm for a child that failed too often (logged, and listed by Broker.Alarms): a
// queue's consumers are detached with amqp:internal-error and the queue leaves the registry and every
// binding; an exchange leaves the registry and the bindings from and to it. Durable records stay in the
// store, so a restarted broker brings them back.
func (v *vhost) giveUp(f failure) {
	child := f.child
	for name, q := range v.queues {
		if !q.pid.Equal(child) {
			continue
		}
		v.log.Error("ALARM: queue failed repeatedly and was stopped", "queue", name, "actor", child.Id, "failures", f.count)
		v.b.memory.raise(Alarm{Kind: string(supervision.Queue), Vhost: v.name, Name: name, Actor: child.Id,
			Reason: fmt.Sprintf("failed %d times within %s: %v", f.count, supervision.Policies[supervision.Queue].Window, f.reason)})
		q.q.deleted = true // the queue is suspended: this write cannot race its goroutine
		for _, c := range q.q.consumers {
			v.b.system.Root.Send(c.link, &queueGone{queue: name, reason: &protocol.Error{Condition: protocol.ErrInternal,
				Description: "queue " + name + " failed repeatedly and was stopped"}})
		}
		q.q.consumers = nil
		delete(v.queues, name)
		v.b.queueIndex.Delete(queueKey{v.name, name})
		v.unbind(routing.Destination{Name: name})
		return
	}
	for name, x := range v.exchanges {
		if !x.pid.Equal(child) && (x.front == nil || !x.front.Equal(child)) {
			continue
		}
		v.log.Error("ALARM: exchange failed repeatedly and was stopped", "exchange", name, "actor", child.Id, "failures", f.count)
		v.b.memory.raise(Alarm{Kind: string(supervision.Exchange), Vhost: v.name, Name: name, Actor: child.Id,
			Reason: fmt.Sprintf("failed %d times within %s: %v", f.count, supervision.Policies[supervision.Exchange].Window, f.reason)})
		delete(v.exchanges, name)
		if x.front != nil && !x.front.Equal(child) {
			v.b.system.Root.Stop(x.front)
		}
		if !x.pid.Equal(child) {
			v.b.system.Root.Stop(x.pid)
		}
		// Bindings from it go with it; bindings to it are dropped from their sources, which would
		// otherwise route to a stopped actor and leave the publishes unconfirmed.
		kept := v.bindings[:0]
		for _, b := range v.bindings {
			if b.source != name {
				kept = append(kept, b)
			}
		}
		v.bindings = kept
		v.unbind(routing.Destination{Exchange: true, Name: name})
		return
	}
	// Not in the registry: the default exchange, or a child the vhost no longer lists.
	v.log.Error("ALARM: actor failed repeatedly and was stopped", "actor", child.Id, "failures", f.count)
	v.b.memory.raise(Alarm{Kind: string(f.kind), Vhost: v.name, Actor: child.Id,
		Reason: fmt.Sprintf("failed %d times: %v", f.count, f.reason)})
}

// unbind removes a stopped destination from the default exchange, the vhost's bindings and the tables
// of the exchanges that route to it.
func (v *vhost) unbind(dest routing.Destination) {
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
}

// answerStopped answers the message a child that is stopped for good was handling, so that nobody waits
// for it: an exchange's publishes and a queue's unsent durable confirmations are refused with
// amqp:internal-error (the producer may publish again: at-least-once), a consumer's attach is refused.
func answerStopped(ctx actor.SenderContext, f failure) {
	const why = "stopped after failing repeatedly"
	switch m := f.msg.(type) {
	case *publishBatch:
		refusePublishes(ctx, m.items, "the exchange was "+why)
	case *storedBatch:
		for link, cs := range m.confirms {
			out := make([]confirm, len(cs))
			for i, c := range cs {
				out[i] = confirm{seq: c.seq, delta: c.delta, err: &protocol.Error{Condition: protocol.ErrInternal, Description: "the queue was " + why}}
			}
			ctx.Send(link, &confirmBatch{items: out})
		}
	case *addConsumer:
		if f.sender != nil {
			ctx.Send(f.sender, &addConsumerResult{err: &protocol.Error{Condition: protocol.ErrInternal, Description: "the queue was " + why}})
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
