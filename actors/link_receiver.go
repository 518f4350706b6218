package actors

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/warren-mq/warren/protocol"
	"github.com/warren-mq/warren/telemetry"
)

// receiverLink is the broker's end of a producer's link (the broker receives): it grants credit,
// assembles transfers into messages, publishes them to its target and settles each delivery once every
// queue it was routed to holds it (DESIGN.md §4).
type receiverLink struct {
	linkBase
	target    *targetResolved
	rcvSecond bool // rcv-settle-mode second: our dispositions are not settled; the producer settles (2.6.12)
	maxSize   uint64

	// credit (spec 2.6.7), in the producer's delivery-count numbering
	deliveryCount uint32
	credit        uint32

	// the delivery being assembled from frames with more=true (valid while assembling)
	cur        assembly
	assembling bool

	seq     uint64
	pending map[uint64]pendingPublish
	out     []publish      // this burst's publishes for the fixed target
	outHint int            // the length of the last publish batch handed over (appendSized)
	settled []settledState // this burst's finished deliveries, for dispositions in ranges
	// releaseUnroutable: the producer's source accepts released (else unroutable messages are rejected)
	releaseUnroutable bool
	mgmt              bool // the request half of a /management link pair
	starved           bool // waiting for the memory alarm to clear
	labels            *telemetry.Labels
	ann               routeAnnotations // the delivery annotations of this link's messages
	now               time.Time        // when the current burst of transfers arrived
}

type assembly struct {
	id      uint32
	settled bool
	buf     []byte
}

type pendingPublish struct {
	deliveryID  uint32
	outstanding int
	queued      int
	err         *protocol.Error
}

type settledState struct {
	id    uint32
	state protocol.DeliveryState
}

func newReceiverLink(b linkBase) *receiverLink {
	l := &receiverLink{linkBase: b, pending: map[uint64]pendingPublish{}, releaseUnroutable: true}
	l.init()
	l.rcvSecond = b.peer.RcvSettleMode == protocol.RcvSecond
	l.maxSize = b.h.b.opts.Limits.MaxMessageSize
	if b.peer.MaxMessageSize > 0 && b.peer.MaxMessageSize < l.maxSize {
		l.maxSize = b.peer.MaxMessageSize
	}
	if src := b.peer.Source; src != nil && len(src.Outcomes) > 0 {
		l.releaseUnroutable = false
		for _, o := range src.Outcomes {
			if o == "amqp:released:list" {
				l.releaseUnroutable = true
			}
		}
	}
	if b.peer.InitialDeliveryCount.Set {
		l.deliveryCount = b.peer.InitialDeliveryCount.V
	}
	return l
}

func (l *receiverLink) Receive(ctx actor.Context) {
	l.h.b.faults.Check(ctx.Self().Id, ctx.Message())
	switch m := ctx.Message().(type) {
	case *inspect:
		ctx.Respond(m.fn(l))
	case *actor.Started:
		l.h.b.met.AttachedLinks.Add(1)
		if l.peer.Coordinator != nil {
			l.refuse(ctx, protocol.RoleReceiver, &protocol.Error{Condition: protocol.ErrNotImplemented,
				Description: "transactions are not supported"})
			return
		}
		if t := l.peer.Target; t != nil && t.Address.Set && t.Address.V == managementAddress {
			l.startManagement(ctx)
			return
		}
		req := &resolveTarget{user: l.h.user, conn: l.h.pid}
		if t := l.peer.Target; t != nil && t.Address.Set {
			req.address = t.Address.V
		} else {
			req.anonymous = true // null target: each message's `to` decides (ANONYMOUS-RELAY)
		}
		ctx.Request(l.h.vhost, req)
	case *targetResolved:
		l.resolved(ctx, m)
	case *linkTransfers:
		if l.detached || l.target == nil {
			return // transfers after our detach are ignored until the peer's detach (2.6.5)
		}
		l.now = time.Now() // the arrival time of this burst's messages
		for _, t := range m.items {
			if err := l.transfer(ctx, t); err != nil {
				l.detach(ctx, err)
				break
			}
		}
		l.flush(ctx)
	case *confirmBatch:
		for _, c := range m.items {
			l.confirmed(c)
		}
		l.writeDispositions()
		if !l.detached && l.target != nil && l.credit <= l.h.b.opts.Limits.LinkCredit/2 {
			l.grantCredit(ctx) // confirmations make room for credit (grantCredit)
		}
	case *peerFlow:
		if m.flow.Echo {
			l.sendFlow(ctx, false)
		}
	case *creditResume:
		l.starved = false
		if !l.detached && l.target != nil {
			l.grantCredit(ctx)
		}
	case *peerDetach:
		l.onPeerDetach(ctx, m.detach)
	case *linkStolen:
		l.stolen(ctx)
	case *actor.Terminated:
		if l.target != nil && l.target.pid != nil && m.Who.Equal(l.target.pid) && !l.h.b.stopping.Load() {
			l.targetGone(ctx)
		}
	case *actor.Stopped:
		l.h.b.met.AttachedLinks.Add(-1)
		l.releaseName(ctx, protocol.RoleSender)
	}
}

func (l *receiverLink) resolved(ctx actor.Context, r *targetResolved) {
	if r.err != nil {
		l.refuse(ctx, protocol.RoleReceiver, r.err)
		return
	}
	l.target = r
	if r.pid != nil {
		ctx.Watch(r.pid) // a deleted target detaches the link (targetGone)
	}
	l.labels = l.h.b.met.ExchangeLabels(l.h.vname, r.exchange)
	target := l.peer.Target
	if target == nil {
		target = &protocol.Target{}
	}
	rcv := protocol.RcvFirst
	if l.rcvSecond {
		rcv = protocol.RcvSecond
	}
	l.writeAttach(&protocol.Attach{
		Name: l.name, Handle: l.handle, Role: protocol.RoleReceiver,
		SndSettleMode: l.peer.SndSettleMode, RcvSettleMode: rcv,
		Source: l.peer.Source, Target: target, MaxMessageSize: l.maxSize,
	})
	l.grantCredit(ctx)
}

// grantCredit tops the producer's credit up to LinkCredit unless the memory alarm is on; then the link
// waits (credit runs out) until creditResume.
func (l *receiverLink) grantCredit(ctx actor.Context) {
	if l.starved {
		return
	}
	if !l.mgmt && l.h.b.memory.starve(ctx.Self()) { // an operator can still purge under the alarm
		l.starved = true
		return
	}
	// Credit only as far as the targets take: at most LinkCredit deliveries are unconfirmed, so a
	// slow queue holds its producers back through credit (DESIGN.md §1) instead of its mailbox growing.
	room := l.h.b.opts.Limits.LinkCredit
	if n := uint32(len(l.pending)); n < room {
		room -= n
	} else {
		room = 0
	}
	if room <= l.credit {
		return
	}
	l.credit = room
	l.sendFlow(ctx, false)
}

func (l *receiverLink) sendFlow(ctx actor.Context, echo bool) {
	ctx.Send(l.session, &linkFlow{handle: l.handle, deliveryCount: l.deliveryCount, credit: l.credit, echo: echo})
}

// transfer takes one frame (spec 2.6.11, 2.7.5).
func (l *receiverLink) transfer(ctx actor.Context, it inTransfer) *protocol.Error {
	t := it.t
	if !l.assembling {
		if t.Aborted {
			return nil // an aborted delivery that never started: nothing to discard
		}
		if l.credit == 0 {
			return &protocol.Error{Condition: protocol.ErrTransferLimitExceeded, Description: "transfer without link credit"}
		}
		if !t.DeliveryID.Set {
			return &protocol.Error{Condition: protocol.ErrInvalidField, Description: "the first transfer of a delivery must carry a delivery-id"}
		}
		l.credit--
		l.deliveryCount++
		l.cur, l.assembling = assembly{id: t.DeliveryID.V, settled: t.Settled.V}, true
		if !t.More {
			l.cur.buf = it.payload // the usual single-frame delivery: no copy
		} else {
			l.cur.buf = append(make([]byte, 0, 2*len(it.payload)), it.payload...)
		}
	} else {
		if t.Aborted {
			l.cur, l.assembling = assembly{}, false // spec 2.6.14: an aborted delivery is discarded; it needs no settlement
			return nil
		}
		if t.Settled.V {
			l.cur.settled = true
		}
		l.cur.buf = append(l.cur.buf, it.payload...)
	}
	if uint64(len(l.cur.buf)) > l.maxSize {
		l.cur, l.assembling = assembly{}, false
		return &protocol.Error{Condition: protocol.ErrMessageSizeExceeded,
			Description: fmt.Sprintf("message larger than max-message-size %d", l.maxSize)}
	}
	if t.More {
		return nil
	}
	a := &l.cur // used before the next transfer starts a new assembly
	l.assembling = false
	if l.mgmt {
		l.managementRequest(ctx, a)
	} else {
		l.publish(ctx, a)
	}
	if l.credit <= l.h.b.opts.Limits.LinkCredit/2 {
		l.grantCredit(ctx)
	}
	return nil
}

// publish routes one complete message to the link's target.
func (l *receiverLink) publish(ctx actor.Context, a *assembly) {
	var pm protocol.Message
	if err := protocol.ParseMessage(a.buf, &pm); err != nil {
		l.settle(a, &protocol.Rejected{Error: &protocol.Error{Condition: protocol.ErrDecodeError, Description: err.Error()}})
		return
	}
	exchange, key := l.target.exchange, l.target.key
	if l.target.useSubject {
		key = pm.Properties.Subject.V
	}
	p := publish{}
	b := l.h.b
	if !l.target.anonymous { // a relayed message is received and counted once its `to` is resolved
		p.span = b.spanReceive(&pm, exchange, key, l.h.remote.ContainerID, l.h.peer)
		l.labels.Published.Add(1)
	}
	if !a.settled {
		l.seq++
		l.pending[l.seq] = pendingPublish{deliveryID: a.id, outstanding: 1}
		p.ref = publishRef{link: ctx.Self(), seq: l.seq}
	}
	if l.target.anonymous {
		to := pm.Properties.To
		if !to.Set {
			l.failPending(p.ref, &protocol.Error{Condition: protocol.ErrPreconditionFailed,
				Description: "a message on a link with a null target needs properties.to"})
			return
		}
		p.msg = newMessage(a.buf, &pm, "", "", l.now, &l.ann) // the vhost names its route (publishTo)
		ctx.Send(l.h.vhost, &publishTo{address: to.V, user: l.h.user, item: p, fromClient: true,
			client: l.h.remote.ContainerID, peer: l.h.peer})
		return
	}
	p.msg = newMessage(a.buf, &pm, exchange, key, l.now, &l.ann)
	l.out = appendSized(l.out, p, l.outHint)
}

// targetGone: the link's exchange or queue actor stopped for good (deleted, or stopped by its supervisor
// after failing repeatedly). Publishes still waiting for it are rejected and the link is detached with
// amqp:resource-deleted, as RabbitMQ 4 detaches links whose target went away; the producer may attach
// again (to a re-declared target).
func (l *receiverLink) targetGone(ctx actor.Context) {
	err := &protocol.Error{Condition: protocol.ErrResourceDeleted,
		Description: "the link's target " + l.targetName() + " is gone (deleted, or stopped after failing repeatedly)"}
	for seq, p := range l.pending {
		delete(l.pending, seq)
		l.settled = append(l.settled, settledState{id: p.deliveryID, state: &protocol.Rejected{Error: err}})
	}
	l.writeDispositions()
	l.detach(ctx, err)
}

func (l *receiverLink) targetName() string {
	if t := l.peer.Target; t != nil && t.Address.Set {
		return t.Address.V
	}
	return "exchange " + l.target.exchange
}

func (l *receiverLink) failPending(ref publishRef, err *protocol.Error) {
	if ref.link == nil {
		return
	}
	l.confirmed(confirm{seq: ref.seq, delta: -1, err: err})
}

func (l *receiverLink) flush(ctx actor.Context) {
	if len(l.out) > 0 && l.target.pid != nil {
		if l.target.toQueue {
			ctx.Send(l.target.pid, &enqueueBatch{items: l.out})
		} else {
			ctx.Send(l.target.pid, &publishBatch{items: l.out})
		}
		l.outHint = len(l.out)
		l.out = nil
	}
	l.writeDispositions()
}

func (l *receiverLink) confirmed(c confirm) {
	p, ok := l.pending[c.seq]
	if !ok {
		return
	}
	p.outstanding += c.delta
	p.queued += c.queued
	if c.err != nil && p.err == nil {
		p.err = c.err
	}
	if p.outstanding > 0 {
		l.pending[c.seq] = p
		return
	}
	delete(l.pending, c.seq)
	var st protocol.DeliveryState
	switch {
	case p.err != nil:
		st = &protocol.Rejected{Error: p.err}
	case p.queued == 0 && l.releaseUnroutable:
		st = &protocol.Released{}
	case p.queued == 0:
		st = &protocol.Rejected{Error: &protocol.Error{Condition: protocol.ErrNotFound, Description: "the message was not routed to any queue"}}
	default:
		st = accepted
	}
	l.settled = append(l.settled, settledState{id: p.deliveryID, state: st})
}

func (l *receiverLink) settle(a *assembly, st protocol.DeliveryState) {
	if a.settled {
		return
	}
	l.settled = append(l.settled, settledState{id: a.id, state: st})
}

var accepted = &protocol.Accepted{}

// writeDispositions settles finished deliveries, one frame per run of consecutive accepted ids
// (RabbitMQ's disposition ranges), one frame for each other outcome.
func (l *receiverLink) writeDispositions() {
	if len(l.settled) == 0 || l.detached {
		l.settled = l.settled[:0]
		return
	}
	settled := !l.rcvSecond
	items := l.settled
	// While more of the producer's publishes are in flight, their dispositions follow soon: these may
	// wait briefly to share a write with them (frameWriter.appendLazy). The last one is written at
	// once, so a producer that waits for each disposition never waits longer.
	write := l.h.w.append
	if len(l.pending) > 0 {
		write = l.h.w.appendLazy
	}
	write(func(b []byte) []byte {
		for i := 0; i < len(items); {
			j := i + 1
			if _, ok := items[i].state.(*protocol.Accepted); ok {
				for j < len(items) && items[j].id == items[j-1].id+1 {
					if _, ok := items[j].state.(*protocol.Accepted); !ok {
						break
					}
					j++
				}
			}
			d := protocol.Disposition{Role: protocol.RoleReceiver, First: items[i].id, Settled: settled, State: items[i].state}
			if j-i > 1 {
				d.Last = protocol.Some(items[j-1].id)
				d.State = accepted
			}
			var err error
			if b, err = protocol.AppendFrame(b, l.ch, &d); err != nil {
				panic("warren: encoding disposition: " + err.Error())
			}
			i = j
		}
		return b
	})
	l.settled = l.settled[:0]
}
