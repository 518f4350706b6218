package actors

import (
	"fmt"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/warren-mq/warren/protocol"
)

// The extension API: custom exchange types and interceptors, written as actors and registered in
// Options. Both sit in front of a built-in routing stage (an exchange actor holding the bindings):
//
//	producer link → your actor (receives *PublishBatch) → env.Forward → routing stage → queues
//
// A custom exchange type (Options.ExchangeTypes) is declared like any exchange — from the definitions
// file, the /management node or the HTTP API — by its type name; RoutingKind picks the built-in table
// its bindings live in. An interceptor (Options.Interceptors) is put in front of one named exchange of
// any type. The broker stays the owner of settlement: a publish that your actor forwards is confirmed
// to its producer once the queues hold it, exactly as without you; a publish your actor keeps for
// later (a delay, a batch) should be accepted with env.Accept so its producer is not held waiting.

// Publish is one message on its way through an exchange.
type Publish struct{ p publish }

// RoutingKey is the key the message is routed with.
func (p *Publish) RoutingKey() string { return p.p.msg.routingKey }

// Exchange is the exchange the message was published to.
func (p *Publish) Exchange() string { return p.p.msg.exchange }

// Header is the message's header section (defaults when it has none).
func (p *Publish) Header() protocol.Header { return p.p.msg.m.Header }

// Properties is the message's properties section.
func (p *Publish) Properties() protocol.Properties { return p.p.msg.m.Properties }

// MessageAnnotations are the message's message-annotations (read-only).
func (p *Publish) MessageAnnotations() protocol.Map { return p.p.msg.m.MessageAnnotations }

// ApplicationProperties are the message's application-properties (read-only).
func (p *Publish) ApplicationProperties() protocol.Map { return p.p.msg.m.ApplicationProperties }

// Raw is the encoded message as received (read-only).
func (p *Publish) Raw() []byte { return p.p.msg.raw }

// PublishBatch is what extension actors receive, and what they forward.
type PublishBatch struct{ Items []*Publish }

func wrapPublishes(items []publish) *PublishBatch {
	b := &PublishBatch{Items: make([]*Publish, len(items))}
	for i := range items {
		b.Items[i] = &Publish{p: items[i]}
	}
	return b
}

// ExchangeEnv is what an extension actor is built with.
type ExchangeEnv struct {
	Vhost    string
	Exchange string
	Type     string
	Args     map[string]any
	// Next is the routing stage: the built-in exchange actor that holds this exchange's bindings.
	Next   *actor.PID
	broker *Broker
	vhost  *actor.PID
}

// Forward hands publishes on to the routing stage.
func (e *ExchangeEnv) Forward(ctx actor.SenderContext, ps ...*Publish) {
	items := make([]publish, len(ps))
	for i, p := range ps {
		items[i] = p.p
	}
	ctx.Send(e.Next, &publishBatch{items: items})
}

// Accept settles publishes with their producers now (accepted), for an extension that keeps them to
// route later; forwarding them afterwards routes them without a second confirmation.
func (e *ExchangeEnv) Accept(ctx actor.SenderContext, ps ...*Publish) {
	byLink := map[*actor.PID][]confirm{}
	for _, p := range ps {
		if ref := p.p.ref; ref.link != nil {
			byLink[ref.link] = append(byLink[ref.link], confirm{seq: ref.seq, delta: -1, queued: 1})
			p.p.ref = publishRef{}
		}
	}
	for link, cs := range byLink {
		ctx.Send(link, &confirmBatch{items: cs})
	}
}

// Copy publishes a copy of p to an address of this vhost (/queues/Q, /exchanges/X[/key]) with no
// confirmation: an audit tap, a wire tap.
func (e *ExchangeEnv) Copy(ctx actor.SenderContext, address string, p *Publish) {
	ctx.Send(e.vhost, &publishTo{address: address, user: "", item: publish{msg: p.p.msg, span: p.p.span}, trusted: true})
}

// ExchangeType is a custom exchange type.
type ExchangeType struct {
	Name string // the type name used when declaring, e.g. "x-delayed-message"
	// RoutingKind returns the built-in kind (direct, fanout, topic, headers) whose table holds the
	// exchange's bindings, from the declared arguments; an error refuses the declaration.
	RoutingKind func(args map[string]any) (string, error)
	// New builds the actor that receives the exchange's *PublishBatch messages.
	New func(env *ExchangeEnv) actor.Actor
}

// Interceptor puts an actor in front of one exchange's publish path.
type Interceptor struct {
	Vhost    string // "" = "/"
	Exchange string
	New      func(env *ExchangeEnv) actor.Actor
}

// frontFor returns the extension to put in front of an exchange being declared, if any, and the kind
// of its routing stage.
func (b *Broker) frontFor(vhost, name, kind string, args map[string]any) (func(*ExchangeEnv) actor.Actor, string, error) {
	for _, t := range b.opts.ExchangeTypes {
		if t.Name == kind {
			rk := "direct"
			if t.RoutingKind != nil {
				var err error
				if rk, err = t.RoutingKind(args); err != nil {
					return nil, "", err
				}
			}
			return t.New, rk, nil
		}
	}
	for _, ic := range b.opts.Interceptors {
		v := ic.Vhost
		if v == "" {
			v = "/"
		}
		if v == vhost && ic.Exchange == name {
			return ic.New, kind, nil
		}
	}
	return nil, kind, nil
}

// spawnFront starts an extension actor in front of a routing stage.
func (v *vhost) spawnFront(ctx actor.Context, newActor func(*ExchangeEnv) actor.Actor, name, kind string, args map[string]any, next *actor.PID) *actor.PID {
	env := &ExchangeEnv{Vhost: v.name, Exchange: name, Type: kind, Args: args, Next: next, broker: v.b, vhost: ctx.Self()}
	v.seq++
	pid, err := ctx.SpawnNamed(v.b.props(func() actor.Actor { return &frontActor{inner: newActor(env)} }),
		fmt.Sprintf("x-%s-front-%d", name, v.seq))
	if err != nil {
		panic("warren: spawning an exchange extension: " + err.Error())
	}
	return pid
}

// frontActor adapts the broker's internal publish batches (from links, other exchanges, the
// anonymous relay) to the exported *PublishBatch an extension understands; everything else goes to
// the extension as it is.
type frontActor struct{ inner actor.Actor }

func (f *frontActor) Receive(ctx actor.Context) {
	if m, ok := ctx.Message().(*publishBatch); ok {
		ctx.Send(ctx.Self(), wrapPublishes(m.items))
		return
	}
	f.inner.Receive(ctx)
}
