// Package actors is the Warren broker as a Go library: NewBroker(Options), Start, Addr, Shutdown. Each
// AMQP connection, session, link, exchange and queue is a protoactor-go actor (DESIGN.md §1).
//
// # Extensions
//
// Options.ExchangeTypes and Options.Interceptors put your own actors into the publish path of an
// exchange. Each extension actor stands in front of the exchange's routing stage, the built-in
// exchange actor that holds its bindings:
//
//	producer link → interceptors → custom type → routing stage (bindings) → queues
//
// An extension actor receives *PublishBatch, the publishes a built-in exchange receives, and passes
// them on with ExchangeEnv.Forward. It may also keep them for later (a delay: ExchangeEnv.Accept
// first, so that their producers are not held waiting), copy them elsewhere (ExchangeEnv.Copy), or
// refuse them (ExchangeEnv.Reject, ExchangeEnv.Drop). Every publish must end in one of Forward,
// Accept, Reject or Drop: a producer waits for its message's outcome until then. The broker stays the
// owner of settlement: a forwarded publish is confirmed to its producer once the queues hold it,
// exactly as without you. Everything else the actor receives (*actor.Started, its own timer messages…)
// reaches it as it is.
//
// A custom exchange type (ExchangeType) is declared like any exchange — from the definitions file
// (Options.Definitions, the daemon's --definitions), the /management node or the HTTP API — by its
// type name; its RoutingKind picks the built-in table its bindings live in. An Interceptor stands in
// front of one named exchange of any type, custom types included; several interceptors of one
// exchange run in the order of Options.Interceptors. Extension actors are children of their vhost:
// one that panics is restarted (its state lost) and the batch it was handling is delivered again;
// deleting the exchange stops them.
//
// Options.QueueInterceptors put an actor into a queue's delivery path instead, between the queue and
// its consumers: it receives *DeliveryBatch and forwards or withholds each delivery (QueueEnv; see
// extension_queue.go).
//
// Your own daemon is NewBroker with these options, Start, and Shutdown on a signal: see the example
// of this package and examples/customexchange.
package actors

import (
	"fmt"
	"net/url"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/warren-mq/warren/protocol"
	"github.com/warren-mq/warren/supervision"
)

// Publish is one message on its way through an exchange.
type Publish struct {
	MessageView
	p publish
}

// MessageView is the read-only view of a message that extensions get, through Publish and Delivery.
type MessageView struct{ msg *message }

// RoutingKey is the key the message is routed with.
func (v MessageView) RoutingKey() string { return v.msg.routingKey }

// Exchange is the exchange the message was published to.
func (v MessageView) Exchange() string { return v.msg.exchange }

// Header is the message's header section as published (defaults when it has none).
func (v MessageView) Header() protocol.Header { return v.msg.header }

// Properties is the message's properties section.
func (v MessageView) Properties() protocol.Properties { return *v.msg.properties() }

// MessageAnnotations are the message's own message-annotations (read-only).
func (v MessageView) MessageAnnotations() protocol.Map { return v.msg.ma }

// ApplicationProperties are the message's application-properties (read-only).
func (v MessageView) ApplicationProperties() protocol.Map { return v.msg.ap }

// Raw is the encoded message as published (read-only).
func (v MessageView) Raw() []byte { return v.msg.raw }

// PublishBatch is what extension actors receive, and what they forward.
type PublishBatch struct{ Items []*Publish }

func wrapPublishes(items []publish) *PublishBatch {
	b := &PublishBatch{Items: make([]*Publish, len(items))}
	for i := range items {
		b.Items[i] = &Publish{MessageView: MessageView{items[i].msg}, p: items[i]}
	}
	return b
}

// ExchangeEnv is what an extension actor is built with.
type ExchangeEnv struct {
	Vhost    string
	Exchange string
	Type     string // the exchange's declared type, e.g. "x-delayed-message" or "direct"
	Args     map[string]any
	// Next is where Forward sends: the next extension in front of this exchange, or its routing stage
	// (the built-in exchange actor that holds the bindings).
	Next  *actor.PID
	vhost *actor.PID
}

// Forward hands publishes on to Next.
func (e *ExchangeEnv) Forward(ctx actor.SenderContext, ps ...*Publish) {
	if len(ps) == 0 {
		return
	}
	items := make([]publish, len(ps))
	for i, p := range ps {
		items[i] = p.p
	}
	ctx.Send(e.Next, &publishBatch{items: items})
}

// Accept settles publishes with their producers now (accepted), for an extension that keeps them to
// route later; forwarding them afterwards routes them without a second confirmation.
func (e *ExchangeEnv) Accept(ctx actor.SenderContext, ps ...*Publish) {
	settle(ctx, ps, confirm{delta: -1, queued: 1})
}

// Reject settles publishes with their producers as rejected with err (for example
// protocol.NewError(protocol.ErrPreconditionFailed, "a header is missing")); they go no further.
func (e *ExchangeEnv) Reject(ctx actor.SenderContext, err *protocol.Error, ps ...*Publish) {
	if err == nil {
		err = protocol.NewError(protocol.ErrPreconditionFailed, "refused by exchange "+e.Exchange)
	}
	settle(ctx, ps, confirm{delta: -1, err: err})
}

// Drop settles publishes with their producers as if they had routed to no queue (released, or
// rejected when the producer's link asked for that, as RabbitMQ does); they go no further.
func (e *ExchangeEnv) Drop(ctx actor.SenderContext, ps ...*Publish) {
	settle(ctx, ps, confirm{delta: -1})
}

// settle sends one confirmation per publish that still waits for one, and marks it answered, so that
// a later Forward routes it without confirming it again.
func settle(ctx actor.SenderContext, ps []*Publish, c confirm) {
	byLink := map[*actor.PID][]confirm{}
	for _, p := range ps {
		if ref := p.p.ref; ref.link != nil {
			c.seq = ref.seq
			byLink[ref.link] = append(byLink[ref.link], c)
			p.p.ref = publishRef{}
		}
	}
	for link, cs := range byLink {
		ctx.Send(link, &confirmBatch{items: cs})
	}
}

// Copy publishes a copy of p to an address of this vhost (/queues/Q, /exchanges/X[/key]) with no
// confirmation and no permission check: an audit tap, a wire tap. The copy is routed like a message
// published to that address (a copy sent to /queues/Q carries x-exchange "" and x-routing-key Q).
func (e *ExchangeEnv) Copy(ctx actor.SenderContext, address string, p *Publish) {
	ctx.Send(e.vhost, &publishTo{address: address, item: publish{msg: p.p.msg, span: p.p.span}, trusted: true})
}

// ExchangeType is a custom exchange type.
type ExchangeType struct {
	Name string // the type name used when declaring, e.g. "x-delayed-message"
	// RoutingKind returns the built-in kind (direct, fanout, topic, headers) whose table holds the
	// exchange's bindings, from the declared arguments; an error refuses the declaration. Nil = direct.
	RoutingKind func(args map[string]any) (string, error)
	// New builds the actor that receives the exchange's *PublishBatch messages. It is the actor's
	// producer: the broker spawns it (actor.PropsFromProducer) as a child of the vhost, and calls New
	// again when the actor is restarted.
	New func(env *ExchangeEnv) actor.Actor
}

// Interceptor puts an actor in front of one exchange's publish path (not the default exchange "").
type Interceptor struct {
	Vhost    string // "" = "/"
	Exchange string
	New      func(env *ExchangeEnv) actor.Actor // as ExchangeType.New
}

// frontFor returns the extensions to put in front of an exchange being declared, outermost first (the
// exchange's interceptors in order, then its custom type), and the kind of its routing stage.
func (b *Broker) frontFor(vhost, name, kind string, args map[string]any) ([]func(*ExchangeEnv) actor.Actor, string, error) {
	var chain []func(*ExchangeEnv) actor.Actor
	for _, ic := range b.opts.Interceptors {
		v := ic.Vhost
		if v == "" {
			v = "/"
		}
		if v == vhost && ic.Exchange == name && ic.New != nil {
			chain = append(chain, ic.New)
		}
	}
	for _, t := range b.opts.ExchangeTypes {
		if t.Name != kind {
			continue
		}
		rk := "direct"
		if t.RoutingKind != nil {
			var err error
			if rk, err = t.RoutingKind(args); err != nil {
				return nil, "", err
			}
		}
		if t.New != nil {
			chain = append(chain, t.New)
		}
		return chain, rk, nil
	}
	return chain, kind, nil
}

// spawnFront starts the extension actors of an exchange, innermost first, each forwarding to the one
// after it and the last to the routing stage; it returns the outermost, where publishes go.
func (v *vhost) spawnFront(ctx actor.Context, chain []func(*ExchangeEnv) actor.Actor, name, kind string, args map[string]any, next *actor.PID) *actor.PID {
	for i := len(chain) - 1; i >= 0; i-- {
		env := &ExchangeEnv{Vhost: v.name, Exchange: name, Type: kind, Args: args, Next: next, vhost: ctx.Self()}
		newActor, stopsNext := chain[i], i < len(chain)-1
		props := v.b.props(func() actor.Actor {
			return &frontActor{inner: newActor(env), next: env.Next, stopsNext: stopsNext}
		}, actor.WithReceiverMiddleware(exportPublishes))
		v.seq++
		pid, err := ctx.SpawnNamed(props, fmt.Sprintf("%s%s-front-%d", supervision.PrefixExchange, url.PathEscape(name), v.seq))
		if err != nil {
			panic("warren: spawning an exchange extension: " + err.Error()) // names are unique by construction
		}
		next = pid
	}
	return next
}

// exportPublishes hands the broker's internal publish batches (from links, other exchanges, the
// anonymous relay, dead-lettering) to an extension actor as the exported *PublishBatch. It runs as
// receiver middleware, on the actor's own goroutine, so the batch costs no extra hop; and a panic
// still fails the internal batch, which the vhost delivers again after the restart.
func exportPublishes(next actor.ReceiverFunc) actor.ReceiverFunc {
	return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
		if m, ok := env.Message.(*publishBatch); ok {
			env = &actor.MessageEnvelope{Header: env.Header, Message: wrapPublishes(m.items), Sender: env.Sender}
		}
		next(c, env)
	}
}

// frontActor runs an extension actor. When the next stage is an extension too, it stops that one with
// itself (the vhost stops only the outermost when the exchange is deleted), and it watches it: once
// that stage is gone for good (stopped by supervision after repeated failures), this one refuses
// publishes with amqp:internal-error instead of forwarding them to nobody.
type frontActor struct {
	inner     actor.Actor
	next      *actor.PID
	stopsNext bool
	nextGone  bool
}

func (f *frontActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		if f.stopsNext {
			ctx.Watch(f.next)
		}
	case *actor.Terminated:
		if f.stopsNext && m.Who.Equal(f.next) {
			f.nextGone = true
			return // ours, not the extension's
		}
	case *PublishBatch:
		if f.nextGone {
			settle(ctx, m.Items, confirm{delta: -1, err: protocol.NewError(protocol.ErrInternal,
				"an extension of this exchange stopped after failing repeatedly")})
			return
		}
	case *actor.Stopped:
		if f.stopsNext {
			ctx.Stop(f.next)
		}
	}
	f.inner.Receive(ctx)
}
