package actors

import (
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/warren-mq/warren/actors/routing"
	"github.com/warren-mq/warren/protocol"
	"github.com/warren-mq/warren/telemetry"
	"go.opentelemetry.io/otel/attribute"
)

// exchange is the actor of one exchange: it owns its binding table and routes each publish to the
// queues and exchanges it matches (DESIGN.md §3), one batch per destination per incoming batch.
type exchange struct {
	b     *Broker
	vhost *actor.PID
	name  string
	kind  string
	table routing.Table
	dests map[routing.Destination]*actor.PID
	match []routing.Destination // scratch for Match
	// deleted: a tombstone that refuses publishes until it stops (after an idle while)
	deleted bool
	// started is set after the first start; a later Started is a restart, and the exchange holds
	// publishes while the vhost sends its bindings again.
	started    bool
	rebuilding bool
	held       []publish
	labels     *telemetry.Labels
	// scratch of route: this batch's publishes per queue and per exchange, confirm deltas per link
	toQueues, toExchanges byPID[publish]
	confirms              byPID[confirm]
	live                  []routeTo
}

// routeTo is one destination of a message: a queue, or an exchange bound to this one.
type routeTo struct {
	exchange bool
	pid      *actor.PID
}

func newExchange(b *Broker, vhost *actor.PID, vname, name, kind string) *exchange {
	t, err := routing.NewTable(routing.Kind(kind))
	if err != nil {
		panic("warren: exchange kind was validated by the vhost: " + err.Error())
	}
	return &exchange{b: b, vhost: vhost, name: name, kind: kind, table: t, dests: map[routing.Destination]*actor.PID{},
		labels: b.met.ExchangeLabels(vname, name)}
}

type addBinding struct {
	b   routing.Binding
	pid *actor.PID
}

type removeDestination struct{ dest routing.Destination }

func (x *exchange) Receive(ctx actor.Context) {
	x.b.faults.Check(ctx.Self().Id, ctx.Message())
	switch m := ctx.Message().(type) {
	case *inspect:
		ctx.Respond(m.fn(x))
	case *actor.Started:
		if x.started {
			x.table, _ = routing.NewTable(routing.Kind(x.kind))
			x.dests = map[routing.Destination]*actor.PID{}
			x.rebuilding = true
			ctx.Send(x.vhost, &exchangeRestarted{name: x.name, pid: ctx.Self()})
		}
		x.started = true
	case *exchangeRebuilt:
		x.rebuilding = false
		held := x.held
		x.held = nil
		x.route(ctx, held)
	case *publishBatch:
		if x.deleted {
			x.refuse(ctx, m.items)
			return
		}
		if x.rebuilding {
			x.held = append(x.held, m.items...)
			return
		}
		x.route(ctx, m.items)
	case *removeBinding:
		x.table.Remove(m.b)
	case *exchangeDeleted:
		x.deleted = true
		x.table, _ = routing.NewTable(routing.Kind(x.kind))
		x.dests = map[routing.Destination]*actor.PID{}
		ctx.SetReceiveTimeout(30 * time.Second)
	case *actor.ReceiveTimeout:
		if x.deleted {
			ctx.Stop(ctx.Self())
		}
	case *addBinding:
		if _, err := x.table.Add(m.b); err == nil {
			x.dests[m.b.Destination] = m.pid
		}
	case *removeDestination:
		x.table.RemoveDestination(m.dest)
		delete(x.dests, m.dest)
	}
}

// refuse answers publishes to a deleted exchange with amqp:not-found.
func (x *exchange) refuse(ctx actor.Context, items []publish) {
	for _, p := range items {
		if p.ref.link != nil {
			ctx.Send(p.ref.link, &confirmBatch{items: []confirm{{seq: p.ref.seq, delta: -1,
				err: &protocol.Error{Condition: protocol.ErrNotFound, Description: "exchange " + x.name + " was deleted"}}}})
		}
	}
}

func (x *exchange) route(ctx actor.Context, items []publish) {
	queues, exchanges, confirms := &x.toQueues, &x.toExchanges, &x.confirms
	for _, p := range items {
		var headers func(string) (any, bool)
		if x.kind == "headers" {
			ap := p.msg.ap
			headers = func(k string) (any, bool) { return ap.Get(k) }
		}
		x.match = x.table.Match(x.match[:0], p.msg.routingKey, headers)
		// The live destinations: bound actors, without exchanges this message has passed already
		// (a cycle of exchange-to-exchange bindings: each exchange routes a message once).
		dests, queuesHit := x.live[:0], 0
		for _, d := range x.match {
			pid := x.dests[d]
			if pid == nil || (d.Exchange && (d.Name == x.name || slices.Contains(p.visited, d.Name))) {
				continue
			}
			if !d.Exchange {
				queuesHit++
			}
			dests = append(dests, routeTo{exchange: d.Exchange, pid: pid})
		}
		x.live = dests
		n := len(dests)
		if n == 0 {
			x.labels.Unroutable.Add(1)
		} else {
			x.labels.Routed.Add(1)
		}
		if x.b.tracing() {
			p.span = x.b.spanChild(p.span, "route", telemetry.OpProcess, x.name, p.msg, attribute.Int("warren.destinations", n),
				attribute.Int("warren.queues", queuesHit), attribute.Bool("warren.unroutable", n == 0))
		}
		for _, d := range dests {
			if d.exchange {
				fwd := p
				fwd.visited = append(slices.Clip(p.visited), x.name)
				exchanges.add(d.pid, fwd)
			} else {
				queues.add(d.pid, p)
			}
		}
		if p.ref.link != nil && n != 1 {
			confirms.add(p.ref.link, confirm{seq: p.ref.seq, delta: n - 1})
		}
	}
	// Confirm deltas go out before the queues get the messages, so a link never sees a queue's
	// confirmation before it knows how many to wait for.
	confirms.flush(func(link *actor.PID, cs []confirm) { ctx.Send(link, &confirmBatch{items: cs}) })
	queues.flush(func(pid *actor.PID, ps []publish) { ctx.Send(pid, &enqueueBatch{items: ps}) })
	exchanges.flush(func(pid *actor.PID, ps []publish) { ctx.Send(pid, &publishBatch{items: ps}) })
}
