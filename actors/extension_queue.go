package actors

import (
	"fmt"
	"net/url"

	"github.com/asynkron/protoactor-go/actor"
)

// Delivery interceptors: Options.QueueInterceptors put your own actor into the delivery path of a
// queue, between the queue and its consumers:
//
//	queue → delivery interceptor → consumer links
//
// The actor receives *DeliveryBatch: the deliveries the queue hands one consumer link at a time, in
// order. While handling a batch it decides, for each delivery, to Forward it to the consumer or to
// Withhold it (the queue then settles it as Dropped, DeadLettered or Released, as if the consumer had;
// the consumer's credit is not used by it). A delivery it neither forwards nor withholds before its
// Receive returns is forwarded: decisions are made while the batch is handled (a delivery path cannot
// hold messages back without holding the consumer's credit; delay in the publish path instead, see
// ExchangeEnv.Accept). It may also Copy a delivery elsewhere (an audit of what consumers get).
//
// The broker stays the owner of settlement and credit: the consumer settles forwarded deliveries with
// the queue as usual, drains and detaches pass through the interceptor in order. A delivery interceptor
// is a child of its vhost and stops with its queue. One that panics is rebuilt with New (its state
// lost), the failure logged and counted; the deliveries of the batch it was handling that it had not
// decided on are forwarded.

// QueueInterceptor puts an actor into one queue's delivery path.
type QueueInterceptor struct {
	Vhost string // "" = "/"
	Queue string
	New   func(env *QueueEnv) actor.Actor
}

// QueueEnv is what a delivery interceptor is built with.
type QueueEnv struct {
	Vhost, Queue string
	vhost        *actor.PID
}

// Delivery is one message on its way from a queue to a consumer.
type Delivery struct {
	MessageView
	d        delivery
	decided  bool
	withhold bool
	outcome  outcomeKind
}

// DeliveryCount is the message's delivery-count (header.delivery-count on this delivery).
func (d *Delivery) DeliveryCount() uint32 { return d.d.deliveryCount }

// FirstAcquirer is false when the message may have been delivered before.
func (d *Delivery) FirstAcquirer() bool { return d.d.firstAcquirer }

// DeliveryBatch is what a delivery interceptor receives: deliveries for one consumer link, in order.
type DeliveryBatch struct {
	Items []*Delivery
	link  *actor.PID
	queue *actor.PID
}

// WithholdOutcome is what the queue does with a withheld delivery.
type WithholdOutcome uint8

const (
	Dropped      WithholdOutcome = iota // gone, as if the consumer accepted it
	DeadLettered                        // to the queue's dead-letter exchange (dropped without one), as if rejected
	Released                            // back to the queue's head, delivered again (maybe to this interceptor again)
)

// Forward passes deliveries of b on to its consumer (every undecided one when none are named).
func (e *QueueEnv) Forward(b *DeliveryBatch, ds ...*Delivery) {
	if len(ds) == 0 {
		ds = b.Items
	}
	for _, d := range ds {
		if !d.decided {
			d.decided = true
		}
	}
}

// Withhold keeps deliveries of b from its consumer; the queue settles them with o (for a consumer that
// takes its deliveries pre-settled, the queue has forgotten them already: withheld, they are dropped).
func (e *QueueEnv) Withhold(b *DeliveryBatch, o WithholdOutcome, ds ...*Delivery) {
	outcome := outcomeAccepted
	switch o {
	case DeadLettered:
		outcome = outcomeDeadLetter
	case Released:
		outcome = outcomeReleased
	}
	for _, d := range ds {
		if !d.decided {
			d.decided, d.withhold, d.outcome = true, true, outcome
		}
	}
}

// Copy publishes a copy of d's message to an address of this vhost (/queues/Q, /exchanges/X[/key]),
// with no confirmation and no permission check.
func (e *QueueEnv) Copy(ctx actor.SenderContext, address string, d *Delivery) {
	ctx.Send(e.vhost, &publishTo{address: address, item: publish{msg: d.d.msg}, trusted: true})
}

// queueFrontFor returns the delivery interceptor of a queue being declared, or nil.
func (b *Broker) queueFrontFor(vhost, queue string) func(*QueueEnv) actor.Actor {
	for _, ic := range b.opts.QueueInterceptors {
		v := ic.Vhost
		if v == "" {
			v = "/"
		}
		if v == vhost && ic.Queue == queue && ic.New != nil {
			return ic.New
		}
	}
	return nil
}

// spawnQueueFront starts a queue's delivery interceptor, a child of the vhost.
func (v *vhost) spawnQueueFront(ctx actor.Context, newActor func(*QueueEnv) actor.Actor, queue string) *actor.PID {
	env := &QueueEnv{Vhost: v.name, Queue: queue, vhost: ctx.Self()}
	v.seq++
	name := fmt.Sprintf("d-%s-%d", url.PathEscape(queue), v.seq)
	f := &queueFront{b: v.b, env: env, newInner: newActor}
	pid, err := ctx.SpawnNamed(v.b.props(func() actor.Actor { return f }, actor.WithReceiverMiddleware(exportDeliveries)), name)
	if err != nil {
		panic("warren: spawning a delivery interceptor: " + err.Error()) // names are unique by construction
	}
	return pid
}

// exportDeliveries hands a queue's deliveries to the interceptor as the exported *DeliveryBatch, on
// the actor's own goroutine (no extra hop).
func exportDeliveries(next actor.ReceiverFunc) actor.ReceiverFunc {
	return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
		if tc, ok := env.Message.(*toConsumer); ok {
			if db, ok := tc.msg.(*deliveryBatch); ok {
				b := &DeliveryBatch{Items: make([]*Delivery, len(db.items)), link: tc.link, queue: db.queue}
				for i := range db.items {
					b.Items[i] = &Delivery{MessageView: MessageView{db.items[i].msg}, d: db.items[i]}
				}
				env = &actor.MessageEnvelope{Header: env.Header, Message: b, Sender: env.Sender}
			}
		}
		next(c, env)
	}
}

// queueFront runs a delivery interceptor: it passes drains and detaches through in order, applies the
// interceptor's decisions for each batch, and rebuilds the interceptor when it panics.
type queueFront struct {
	b        *Broker
	env      *QueueEnv
	newInner func(*QueueEnv) actor.Actor
	inner    actor.Actor
}

func (f *queueFront) Receive(ctx actor.Context) {
	if f.inner == nil {
		f.inner = f.newInner(f.env)
	}
	switch m := ctx.Message().(type) {
	case *toConsumer: // drained, queueGone: behind the deliveries already passed on
		ctx.Send(m.link, m.msg)
		return
	case *inspect:
		ctx.Respond(m.fn(f))
		return
	case *DeliveryBatch:
		f.run(ctx)
		f.apply(ctx, m)
		return
	}
	f.run(ctx)
}

// run calls the interceptor; a panic rebuilds it (its state is lost) and is logged and counted.
func (f *queueFront) run(ctx actor.Context) {
	defer func() {
		if r := recover(); r != nil {
			f.b.restarts.Add(1)
			f.b.met.ActorRestarts.Add(bg, 1, f.b.met.KindLabels("delivery-interceptor").Add...)
			logActorFailure(f.b.log, ctx.Self(), r, ctx.Message(), "rebuild the interceptor; undecided deliveries are forwarded")
			f.inner = f.newInner(f.env)
		}
	}()
	f.inner.Receive(ctx)
}

// apply sends the batch's forwarded deliveries to the consumer, in order, and the withheld ones back to
// the queue.
func (f *queueFront) apply(ctx actor.Context, b *DeliveryBatch) {
	var fwd []delivery
	var kept []withheldItem
	for _, d := range b.Items {
		if d.withhold {
			kept = append(kept, withheldItem{qid: d.d.qid, drains: d.d.drains, outcome: d.outcome})
			continue
		}
		fwd = append(fwd, d.d)
	}
	if len(fwd) > 0 {
		ctx.Send(b.link, &deliveryBatch{queue: b.queue, items: fwd})
	}
	if len(kept) > 0 {
		ctx.Send(b.queue, &withheld{link: b.link, items: kept})
	}
}
