package actors

import (
	"encoding/binary"
	"fmt"
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/warren-mq/warren/protocol"
	"github.com/warren-mq/warren/protocol/serial"
)

// session is the actor of one AMQP session (spec 2.5): it keeps the session windows and transfer ids,
// assigns delivery ids to outgoing deliveries, maps handles to link actors and turns the peer's
// dispositions into settlements for the queues.
type session struct {
	h    *connHandle
	conn *actor.PID
	ch   uint16 // our channel: every frame of this session goes out on it
	inCh uint16 // the peer's channel for this session
	log  *slog.Logger
	lim  Limits

	// incoming (peer → broker), spec 2.5.6
	nextIncomingID uint32
	incomingWindow uint32 // what is left of the window we granted
	// outgoing (broker → peer)
	nextOutgoingID       uint32
	remoteIncomingWindow uint32
	nextDeliveryID       uint32
	handleMax            uint32

	links     map[uint32]*linkEntry   // by handle (ours mirror the peer's)
	unsettled map[uint32]outUnsettled // our unsettled outgoing deliveries by delivery id
	pending   []outJob                // deliveries waiting for the peer's incoming window
	inBatches []inBatch               // this burst's transfers per receiver link
	inHint    int                     // the length of the last link batch handed over (appendSized)
	mgmt      map[string]*actor.PID   // /management response links by link name
	// peerDetached: handles the peer detached and has not attached again. go-amqp v1.7.0's receiver
	// keeps issuing credit after it sent its detach (its mux loop still sends flows while the close
	// is in progress), so a flow on such a handle is ignored rather than ending the session with
	// unattached-handle (spec 2.7.4); any other frame on it still is an error.
	peerDetached map[uint32]struct{}
	settles      byPID[settlement] // this burst's settlements by queue (flushSettles)
	tag          [4]byte
	ended        bool // we sent end
	linkSeq      int
}

type linkEntry struct {
	pid  *actor.PID
	name string
	role protocol.Role // the peer's role
}

type outUnsettled struct {
	queue  *actor.PID
	link   *actor.PID
	qid    uint64
	handle uint32
}

// outJob is one delivery on its way out; payload is set when it needs more than one frame.
type outJob struct {
	handle  uint32
	id      uint32
	settled bool
	d       delivery
	payload []byte
	off     int
}

func newSession(h *connHandle, conn *actor.PID, ch, inCh uint16, b *protocol.Begin) *session {
	s := &session{
		h: h, conn: conn, ch: ch, inCh: inCh, lim: h.b.opts.Limits,
		log:            h.b.log.With("conn", h.id, "channel", ch),
		nextIncomingID: b.NextOutgoingID,
		nextOutgoingID: serial.Start,
		// Delivery ids start at 0, not near 2^32 like our other counters: go-amqp v1.7.0's session loops
		// over disposition ranges with `for id := first; id <= last; id++` on uint32, which never ends
		// when a range reaches 4294967295. Transfer ids and delivery-counts still start at serial.Start,
		// so wrap-around stays exercised by every test.
		nextDeliveryID: 0,
		handleMax:      h.b.opts.Limits.HandleMax,
		links:          map[uint32]*linkEntry{},
		unsettled:      map[uint32]outUnsettled{},
	}
	s.incomingWindow = s.lim.SessionWindow
	s.remoteIncomingWindow = b.IncomingWindow
	return s
}

func (s *session) Receive(ctx actor.Context) {
	s.h.b.faults.Check(ctx.Self().Id, ctx.Message())
	switch m := ctx.Message().(type) {
	case *inspect:
		ctx.Respond(m.fn(s))
	case *actor.Stopped:
		s.h.b.met.OpenSessions.Add(-1)
	case *actor.Started:
		s.h.b.met.OpenSessions.Add(1)
		// spec 2.7.2: our begin answers theirs with remote-channel set.
		s.h.w.frame(s.ch, &protocol.Begin{
			RemoteChannel:  protocol.Some(s.inCh),
			NextOutgoingID: s.nextOutgoingID,
			IncomingWindow: s.incomingWindow,
			OutgoingWindow: s.outgoingWindow(),
			HandleMax:      s.handleMax,
		})
	case *sessionFrames:
		for _, f := range m.frames {
			if s.ended {
				if _, ok := f.perf.(*protocol.End); ok {
					ctx.Stop(ctx.Self())
				}
				continue // spec 2.5.x: after sending end, frames are ignored until the peer's end
			}
			if err := s.frame(ctx, f); err != nil {
				s.end(ctx, err)
			}
		}
		s.flushLinkBatches(ctx)
		s.flushSettles(ctx)
	case *outTransfers:
		s.enqueueOut(m)
		s.pump()
	case *linkFlow:
		s.writeLinkFlow(m)
	case *mgmtPair:
		if s.mgmt == nil {
			s.mgmt = map[string]*actor.PID{}
		}
		s.mgmt[m.name] = m.link
	case *mgmtReply:
		if pid := s.mgmt[m.name]; pid != nil {
			ctx.Send(pid, &mgmtDeliver{msg: m.msg})
		} else {
			s.log.Info("management response without a paired receiving link", "link", m.name)
		}
	case *linkDetach:
		s.dropHandle(m.handle, m.link)
		s.h.w.frame(s.ch, &protocol.Detach{Handle: m.handle, Closed: true, Error: m.err})
	case *actor.Terminated:
		// A link's handle stays reserved until the peer's detach arrives (that frees it, spec 2.6.5),
		// even when the link actor is gone already (it crashed, or we detached it): only the
		// management pairing is forgotten here.
		for name, pid := range s.mgmt {
			if pid.Equal(m.Who) {
				delete(s.mgmt, name)
			}
		}
	}
}

// outgoingWindow: we never limit ourselves below the peer's incoming window, so we advertise a large one.
func (s *session) outgoingWindow() uint32 { return 1 << 31 }

func (s *session) frame(ctx actor.Context, f inFrame) *protocol.Error {
	switch p := f.perf.(type) {
	case *protocol.Attach:
		s.flushSettles(ctx) // a new consumer of a queue finds this burst's releases there already
		return s.attach(ctx, p)
	case *protocol.Flow:
		// Settlements of this burst reach their queues before the credit does: a consumer that
		// releases or modifies a message and then grants credit gets that message again first.
		s.flushSettles(ctx)
		return s.flow(ctx, p)
	case *protocol.Transfer:
		return s.transfer(ctx, p, f.payload)
	case *protocol.Disposition:
		s.disposition(ctx, p)
	case *protocol.Detach:
		e := s.links[p.Handle]
		if e == nil {
			return &protocol.Error{Condition: protocol.ErrUnattachedHandle, Description: fmt.Sprintf("detach on handle %d, which is not attached", p.Handle)}
		}
		// The handle is free as soon as the peer's detach is in (the link answers it). Settlements
		// of this burst go to their queues first: the link's detach returns what is still unsettled.
		s.flushSettles(ctx)
		delete(s.links, p.Handle)
		if s.peerDetached == nil {
			s.peerDetached = map[uint32]struct{}{}
		}
		s.peerDetached[p.Handle] = struct{}{}
		s.dropHandle(p.Handle, nil)
		ctx.Send(e.pid, &peerDetach{detach: p})
	case *protocol.End:
		if p.Error != nil {
			s.log.Info("peer ended session with error", "condition", string(p.Error.Condition), "description", p.Error.Description)
		}
		s.h.w.frame(s.ch, &protocol.End{})
		s.ended = true
		s.flushSettles(ctx)
		ctx.Stop(ctx.Self()) // stops the links, which return their unsettled deliveries
	default:
		return &protocol.Error{Condition: protocol.ErrIllegalState, Description: fmt.Sprintf("unexpected %s in a session", describe(p))}
	}
	return nil
}

func (s *session) attach(ctx actor.Context, a *protocol.Attach) *protocol.Error {
	if a.Handle > s.handleMax {
		return &protocol.Error{Condition: protocol.ErrResourceLimitExceeded,
			Description: fmt.Sprintf("handle %d exceeds handle-max %d", a.Handle, s.handleMax)}
	}
	if _, busy := s.links[a.Handle]; busy {
		return &protocol.Error{Condition: protocol.ErrHandleInUse, Description: fmt.Sprintf("handle %d is already attached", a.Handle)}
	}
	s.linkSeq++
	base := linkBase{h: s.h, session: ctx.Self(), ch: s.ch, handle: a.Handle, name: a.Name, peer: a}
	var props *actor.Props
	if a.Role == protocol.RoleSender {
		// A producer's link runs inline: fed by this session and by its target's confirmations.
		props = inlineProps(func() actor.Actor { return newReceiverLink(base) })
	} else {
		// A consumer's link is fed by its queue: on the warm dispatcher, so the queue never runs it.
		props = s.h.b.props(func() actor.Actor { return newSenderLink(base) })
	}
	pid, err := ctx.SpawnNamed(props, fmt.Sprintf("l%d-%d", a.Handle, s.linkSeq))
	if err != nil {
		return &protocol.Error{Condition: protocol.ErrInternal, Description: err.Error()}
	}
	s.links[a.Handle] = &linkEntry{pid: pid, name: a.Name, role: a.Role}
	delete(s.peerDetached, a.Handle)
	ctx.Send(s.conn, &claimLinkName{role: a.Role, name: a.Name, link: pid})
	return nil
}

// flow applies the session part of a flow (spec 2.5.6) and hands the link part to its link.
func (s *session) flow(ctx actor.Context, f *protocol.Flow) *protocol.Error {
	next := serial.Start // the peer has not seen our begin yet: our initial next-outgoing-id
	if f.NextIncomingID.Set {
		next = f.NextIncomingID.V
	}
	// remote-incoming-window = next-incoming-id(flow) + incoming-window(flow) - next-outgoing-id(ours)
	s.remoteIncomingWindow = next + f.IncomingWindow - s.nextOutgoingID
	if f.Handle.Set {
		e := s.links[f.Handle.V]
		if e != nil {
			ctx.Send(e.pid, &peerFlow{flow: f})
		} else if _, gone := s.peerDetached[f.Handle.V]; !gone {
			return &protocol.Error{Condition: protocol.ErrUnattachedHandle, Description: fmt.Sprintf("flow on handle %d, which is not attached", f.Handle.V)}
		}
	} else if f.Echo {
		s.writeFlow(nil)
	}
	s.pump()
	return nil
}

func (s *session) transfer(ctx actor.Context, t *protocol.Transfer, payload []byte) *protocol.Error {
	if s.incomingWindow == 0 {
		return &protocol.Error{Condition: protocol.ErrWindowViolation, Description: "transfer beyond the incoming-window we granted"}
	}
	s.incomingWindow--
	s.nextIncomingID++
	e := s.links[t.Handle]
	if e == nil {
		return &protocol.Error{Condition: protocol.ErrUnattachedHandle, Description: fmt.Sprintf("transfer on handle %d, which is not attached", t.Handle)}
	}
	if e.role != protocol.RoleSender {
		return &protocol.Error{Condition: protocol.ErrNotAllowed, Description: fmt.Sprintf("transfer on handle %d, where the peer is the receiver", t.Handle)}
	}
	bt := s.batchFor(e.pid)
	bt.items = appendSized(bt.items, inTransfer{t: t, payload: payload}, s.inHint)
	if s.incomingWindow <= s.lim.SessionWindow/2 {
		s.incomingWindow = s.lim.SessionWindow
		s.writeFlow(nil)
	}
	return nil
}

// disposition applies the peer's settlement of our outgoing deliveries (spec 2.7.6).
func (s *session) disposition(ctx actor.Context, d *protocol.Disposition) {
	if d.Role == protocol.RoleSender {
		// A producer settling its own deliveries (the second step of rcv-settle-mode second, 2.6.12):
		// we keep no state for them once our disposition went out.
		return
	}
	outcome, annotations, terminal := outcomeOf(d.State)
	var reason *protocol.Error
	if r, ok := d.State.(*protocol.Rejected); ok {
		reason = r.Error
	}
	if !terminal && !d.Settled {
		return // e.g. received{}: progress, not an outcome
	}
	last := d.First
	if d.Last.Set {
		last = d.Last.V
	}
	batches := &s.settles // one settleBatch per queue per read burst (flushSettles)
	apply := func(id uint32, u outUnsettled) {
		delete(s.unsettled, id)
		batches.add(u.queue, settlement{link: u.link, qid: u.qid, outcome: outcome, annotations: annotations, reason: reason})
	}
	if n := int64(serial.Diff(d.First, last)) + 1; n > 0 && n <= int64(len(s.unsettled)) {
		for id := d.First; ; id++ {
			if u, ok := s.unsettled[id]; ok {
				apply(id, u)
			}
			if id == last {
				break
			}
		}
	} else if n > 0 {
		for id, u := range s.unsettled {
			if serial.InRange(id, d.First, last) {
				apply(id, u)
			}
		}
	}
	if !d.Settled {
		// The consumer asked for our settlement (rcv-settle-mode second, or it simply did not settle):
		// we settle with the same state once the outcome is applied (spec 2.6.12).
		s.h.w.frame(s.ch, &protocol.Disposition{Role: protocol.RoleSender, First: d.First, Last: d.Last, Settled: true, State: d.State})
	}
}

// flushSettles sends the settlements gathered from this burst's dispositions, one batch per queue: a
// consumer settling message by message costs its queue one message per socket read, not per frame.
func (s *session) flushSettles(ctx actor.Context) {
	s.settles.flush(func(q *actor.PID, items []settlement) { ctx.Send(q, &settleBatch{items: items}) })
}

// outcomeOf maps a delivery state to what the queue does (DESIGN.md §4). A settled disposition without a
// state counts as accepted, as RabbitMQ does.
func outcomeOf(st protocol.DeliveryState) (outcomeKind, protocol.Map, bool) {
	switch s := st.(type) {
	case nil:
		return outcomeAccepted, nil, false
	case *protocol.Accepted:
		return outcomeAccepted, nil, true
	case *protocol.Released:
		return outcomeReleased, nil, true
	case *protocol.Rejected:
		return outcomeDeadLetter, nil, true
	case *protocol.Modified:
		if s.UndeliverableHere {
			return outcomeDeadLetter, s.MessageAnnotations, true
		}
		if s.DeliveryFailed {
			return outcomeFailed, s.MessageAnnotations, true
		}
		return outcomeReleased, s.MessageAnnotations, true
	}
	return outcomeAccepted, nil, false
}

func (s *session) end(ctx actor.Context, err *protocol.Error) {
	s.log.Info("ending session on peer fault", "condition", string(err.Condition), "description", err.Description)
	s.h.w.frame(s.ch, &protocol.End{Error: err})
	s.ended = true
	s.flushSettles(ctx)
	for _, e := range s.links {
		ctx.Stop(e.pid)
	}
	s.links = map[uint32]*linkEntry{}
	s.pending = nil
}

// writeFlow sends a flow with the session's state and, when lf is set, one link's state.
func (s *session) writeFlow(lf *linkFlow) {
	f := &protocol.Flow{
		NextIncomingID: protocol.Some(s.nextIncomingID),
		IncomingWindow: s.incomingWindow,
		NextOutgoingID: s.nextOutgoingID,
		OutgoingWindow: s.outgoingWindow(),
	}
	if lf != nil {
		f.Handle = protocol.Some(lf.handle)
		f.DeliveryCount = protocol.Some(lf.deliveryCount)
		f.LinkCredit = protocol.Some(lf.credit)
		f.Drain = lf.drain
		f.Echo = lf.echo
		f.Available = lf.available
	}
	s.h.w.frame(s.ch, f)
}

func (s *session) writeLinkFlow(lf *linkFlow) {
	if s.ended {
		return
	}
	if _, ok := s.links[lf.handle]; !ok {
		return // the link detached meanwhile
	}
	s.writeFlow(lf)
}

// dropHandle forgets what the session holds for a handle: waiting transfers and unsettled deliveries
// (the queue requeues the latter when the link removes its consumer).
func (s *session) dropHandle(handle uint32, _ *actor.PID) {
	if len(s.pending) > 0 {
		kept := s.pending[:0]
		for _, j := range s.pending {
			if j.handle != handle {
				kept = append(kept, j)
			}
		}
		s.pending = kept
	}
	for id, u := range s.unsettled {
		if u.handle == handle {
			delete(s.unsettled, id)
		}
	}
}

// HandleFailure supervises the links (DESIGN.md §1): a crashed link is stopped and detached with
// amqp:internal-error; the session lives on.
func (s *session) HandleFailure(_ *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, rs *actor.RestartStatistics, reason, msg any) {
	decideFailure(child, rs, reason, msg).record(s.log, &s.h.b.restarts, s.h.b.met) // supervision.Policies: stop
	sup.StopChildren(child)
	for hnd, e := range s.links {
		if e.pid.Equal(child) {
			s.dropHandle(hnd, nil)
			if !s.ended {
				s.h.w.frame(s.ch, &protocol.Detach{Handle: hnd, Closed: true, Error: &protocol.Error{
					Condition: protocol.ErrInternal, Description: "the link failed inside the broker; the session lives on"}})
			}
		}
	}
}

// --- messages between links and their session ----------------------------------------------------------

// inTransfer is one transfer frame for a receiver link.
type inTransfer struct {
	t       *protocol.Transfer
	payload []byte
}

type linkTransfers struct{ items []inTransfer }

type peerFlow struct{ flow *protocol.Flow }

type peerDetach struct{ detach *protocol.Detach }

// outTransfers asks the session to send deliveries on a link.
type outTransfers struct {
	handle  uint32
	link    *actor.PID
	queue   *actor.PID
	settled bool
	items   []delivery
}

// linkFlow asks the session to send a flow for a link.
type linkFlow struct {
	handle        uint32
	deliveryCount uint32
	credit        uint32
	drain, echo   bool
	available     protocol.Opt[uint32]
}

// linkDetach asks the session to send detach for a link (after dropping what waits for it).
type linkDetach struct {
	handle uint32
	link   *actor.PID
	err    *protocol.Error
}

// tagBytes is a delivery tag: our delivery ids are unique per session while unsettled, so they serve as
// tags too (spec 2.8.7 only needs uniqueness per link among unsettled deliveries).
func tagBytes(dst *[4]byte, id uint32) []byte {
	binary.BigEndian.PutUint32(dst[:], id)
	return dst[:]
}
