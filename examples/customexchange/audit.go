package main

import (
	"github.com/asynkron/protoactor-go/actor"
	"github.com/warren-mq/warren/actors"
)

// AuditTap is an interceptor: every message published to the exchange goes on as usual, and a copy
// goes to an audit queue.
func AuditTap(exchange, auditQueue string) actors.Interceptor {
	return actors.Interceptor{
		Exchange: exchange,
		New: func(env *actors.ExchangeEnv) actor.Actor {
			return actor.ReceiveFunc(func(ctx actor.Context) {
				if m, ok := ctx.Message().(*actors.PublishBatch); ok {
					for _, p := range m.Items {
						env.Copy(ctx, "/queues/"+auditQueue, p)
					}
					env.Forward(ctx, m.Items...)
				}
			})
		},
	}
}
