package main

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/warren-mq/warren/actors"
	"github.com/warren-mq/warren/protocol"
)

// DelayedMessage is RabbitMQ's most requested plugin as a Warren exchange type: a message with an
// x-delay message-annotation (milliseconds) is routed that long after it was published. The exchange
// routes with the table named by its x-delayed-type argument (direct by default), and accepts each
// delayed message at once — its producer is not held for the delay. Waiting messages live in the
// actor's memory: unlike RabbitMQ's plugin, they do not survive a broker restart.
var DelayedMessage = actors.ExchangeType{
	Name: "x-delayed-message",
	RoutingKind: func(args map[string]any) (string, error) {
		t, ok := args["x-delayed-type"]
		if !ok {
			return "direct", nil
		}
		s, ok := t.(string)
		if !ok || (s != "direct" && s != "fanout" && s != "topic" && s != "headers") {
			return "", fmt.Errorf("x-delayed-type must be direct, fanout, topic or headers, not %v", t)
		}
		return s, nil
	},
	New: func(env *actors.ExchangeEnv) actor.Actor { return &delayed{env: env, timers: map[uint64]*time.Timer{}} },
}

type delayed struct {
	env    *actors.ExchangeEnv
	seq    uint64
	timers map[uint64]*time.Timer // pending, stopped with the actor
}

// due carries a delayed message back to the actor when its time has come.
type due struct {
	p  *actors.Publish
	id uint64
}

func (d *delayed) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actors.PublishBatch:
		var now []*actors.Publish
		for _, p := range m.Items {
			delay := xDelay(p.MessageAnnotations())
			if delay <= 0 {
				now = append(now, p)
				continue
			}
			d.env.Accept(ctx, p) // taken: the producer gets accepted now, routing comes later
			d.seq++
			self, root, msg := ctx.Self(), ctx.ActorSystem().Root, &due{p: p, id: d.seq}
			d.timers[msg.id] = time.AfterFunc(delay, func() { root.Send(self, msg) })
		}
		d.env.Forward(ctx, now...)
	case *due:
		delete(d.timers, m.id)
		d.env.Forward(ctx, m.p)
	case *actor.Stopping:
		for _, t := range d.timers {
			t.Stop()
		}
	}
}

// xDelay reads the x-delay annotation, an integer number of milliseconds (0 when absent or not an
// integer).
func xDelay(ma protocol.Map) time.Duration {
	v, ok := ma.Get(protocol.Symbol("x-delay"))
	if !ok {
		return 0
	}
	var ms int64
	switch n := v.(type) {
	case int64:
		ms = n
	case int32:
		ms = int64(n)
	case int16:
		ms = int64(n)
	case int8:
		ms = int64(n)
	case uint64:
		ms = int64(min(n, 1<<62))
	case uint32:
		ms = int64(n)
	case uint16:
		ms = int64(n)
	case uint8:
		ms = int64(n)
	default:
		return 0
	}
	return time.Duration(min(ms, int64(time.Duration(1<<62)/time.Millisecond))) * time.Millisecond
}
