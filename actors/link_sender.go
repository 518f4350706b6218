package actors

import (
	"github.com/asynkron/protoactor-go/actor"
	"github.com/warren-mq/warren/protocol"
	"github.com/warren-mq/warren/protocol/serial"
)

// senderLink is the broker's end of a consumer's link (the broker sends): it registers as a consumer of
// its queue, turns the peer's credit into the queue's limit and passes deliveries to the session.
type senderLink struct {
	linkBase
	queue      *actor.PID
	queueName  string
	dynamic    bool // the queue was created for this link and goes with it
	presettled bool // snd-settle-mode settled: at-most-once

	// credit (spec 2.6.7), in our delivery-count numbering
	deliveryCount uint32
	credit        uint32
	consuming     bool
	// pendingAddress is the source address to answer with (a dynamic queue's generated one)
	pendingAddress string
	mgmt           bool       // the response half of a /management link pair
	mgmtOut        []*message // responses waiting for credit
}

func newSenderLink(b linkBase) *senderLink {
	// Our delivery-count starts at 0, not near 2^32: rhea ignores initial-delivery-count (it counts
	// from 0), so any other start would hand it more credit than it granted. Transfer ids still start
	// at serial.Start, so wrap-around stays exercised.
	l := &senderLink{linkBase: b, deliveryCount: 0}
	l.init()
	l.presettled = b.peer.SndSettleMode == protocol.SndSettled
	return l
}

func (l *senderLink) Receive(ctx actor.Context) {
	l.h.b.faults.Check(ctx.Self().Id, ctx.Message())
	switch m := ctx.Message().(type) {
	case *inspect:
		ctx.Respond(m.fn(l))
	case *actor.Started:
		l.h.b.met.AttachedLinks.Add(1)
		if src := l.peer.Source; src != nil && src.Address.Set && src.Address.V == managementAddress {
			l.startManagement(ctx)
			return
		}
		req := &resolveSource{user: l.h.user, conn: l.h.pid}
		if src := l.peer.Source; src != nil {
			req.dynamic = src.Dynamic
			if src.Address.Set {
				req.address = src.Address.V
			}
		}
		if !req.dynamic && req.address == "" {
			l.refuse(ctx, protocol.RoleSender, &protocol.Error{Condition: protocol.ErrInvalidField,
				Description: "a consumer's source needs an address (or dynamic=true)"})
			return
		}
		ctx.Request(l.h.vhost, req)
	case *sourceResolved:
		if m.err != nil {
			l.refuse(ctx, protocol.RoleSender, m.err)
			return
		}
		l.queue, l.queueName, l.dynamic = m.queue, m.name, m.dynamic
		ctx.Request(l.queue, &addConsumer{link: ctx.Self(), presettled: l.presettled, count: l.deliveryCount,
			client: l.h.remote.ContainerID, peer: l.h.peer})
		l.pendingAddress = m.address
	case *addConsumerResult:
		if m.err != nil {
			l.refuse(ctx, protocol.RoleSender, m.err)
			return
		}
		l.consuming = true
		l.attached(m)
	case *peerFlow:
		l.flow(ctx, m.flow)
	case *deliveryBatch:
		if l.detached {
			return // the queue requeues them when we remove the consumer
		}
		n := uint32(len(m.items))
		l.deliveryCount += n
		l.credit -= min(n, l.credit)
		ctx.Send(l.session, &outTransfers{handle: l.handle, link: ctx.Self(), queue: m.queue, settled: l.presettled, items: m.items})
	case *drained:
		// spec 2.6.7: on drain with nothing left, advance delivery-count by the remaining credit, set it
		// to 0 and tell the receiver.
		l.deliveryCount = m.count
		l.credit = 0
		ctx.Send(l.session, &linkFlow{handle: l.handle, deliveryCount: l.deliveryCount, credit: 0, drain: true})
	case *mgmtDeliver:
		l.mgmtOut = append(l.mgmtOut, m.msg)
		l.flushManagement(ctx)
	case *queueGone:
		l.consuming = false
		l.detach(ctx, m.reason)
	case *peerDetach:
		l.stopConsuming(ctx)
		l.onPeerDetach(ctx, m.detach)
	case *linkStolen:
		l.stopConsuming(ctx)
		l.stolen(ctx)
	case *actor.Stopped:
		l.h.b.met.AttachedLinks.Add(-1)
		l.stopConsuming(ctx)
		l.releaseName(ctx, protocol.RoleReceiver)
	}
}

func (l *senderLink) attached(_ *addConsumerResult) {
	src := &protocol.Source{}
	if l.peer.Source != nil {
		s := *l.peer.Source
		src = &s
		src.Filter = nil // no filters are supported yet: omitting them tells the consumer so (spec 3.5.3)
	}
	src.Address = protocol.Some(l.pendingAddress)
	snd := protocol.SndUnsettled
	if l.presettled {
		snd = protocol.SndSettled
	}
	l.writeAttach(&protocol.Attach{
		Name: l.name, Handle: l.handle, Role: protocol.RoleSender,
		SndSettleMode: snd, RcvSettleMode: l.peer.RcvSettleMode,
		Source: src, Target: l.peer.Target,
		InitialDeliveryCount: protocol.Some(l.deliveryCount),
		MaxMessageSize:       l.h.b.opts.Limits.MaxMessageSize,
	})
}

// flow applies the consumer's credit (spec 2.6.7):
// link-credit(snd) = delivery-count(rcv) + link-credit(rcv) - delivery-count(snd).
// The queue counts what it sent from our initial delivery-count, so it gets the limit
// delivery-count(rcv) + link-credit(rcv) and works out the rest itself, in-flight deliveries included.
func (l *senderLink) flow(ctx actor.Context, f *protocol.Flow) {
	if !l.consuming || l.detached {
		return
	}
	rcvCount := uint32(0) // our initial-delivery-count, when the receiver has not echoed one yet
	if f.DeliveryCount.Set {
		rcvCount = f.DeliveryCount.V
	}
	if f.LinkCredit.Set {
		limit := rcvCount + f.LinkCredit.V
		if d := serial.Diff(l.deliveryCount, limit); d > 0 {
			l.credit = uint32(d)
		} else {
			l.credit = 0
		}
		if l.mgmt {
			l.flushManagement(ctx)
			if f.Drain && l.credit > 0 {
				l.deliveryCount += l.credit
				l.credit = 0
				ctx.Send(l.session, &linkFlow{handle: l.handle, deliveryCount: l.deliveryCount, credit: 0, drain: true})
			}
		} else {
			ctx.Send(l.queue, &consumerCredit{link: ctx.Self(), limit: limit, drain: f.Drain})
		}
	}
	if f.Echo {
		ctx.Send(l.session, &linkFlow{handle: l.handle, deliveryCount: l.deliveryCount, credit: l.credit})
	}
}

func (l *senderLink) stopConsuming(ctx actor.Context) {
	if !l.consuming || l.mgmt {
		return
	}
	l.consuming = false
	ctx.Send(l.queue, &removeConsumer{link: ctx.Self()})
	if l.dynamic {
		ctx.Send(l.h.vhost, &deleteQueue{name: l.queueName, reason: "its dynamic link detached"})
	}
}
