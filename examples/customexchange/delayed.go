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
// message at once — its producer is not held for the delay.
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
	New: func(env *actors.ExchangeEnv) actor.Actor { return &delayed{env: env} },
}

type delayed struct{ env *actors.ExchangeEnv }

// due carries delayed messages back to the actor when their time has come.
type due struct{ items []*actors.Publish }

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
			self, sys := ctx.Self(), ctx.ActorSystem()
			time.AfterFunc(delay, func() { sys.Root.Send(self, &due{items: []*actors.Publish{p}}) })
		}
		if len(now) > 0 {
			d.env.Forward(ctx, now...)
		}
	case *due:
		d.env.Forward(ctx, m.items...)
	}
}

// xDelay reads the x-delay annotation (an integer number of milliseconds).
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
	case uint64:
		ms = int64(n)
	case uint32:
		ms = int64(n)
	default:
		return 0
	}
	return time.Duration(ms) * time.Millisecond
}
