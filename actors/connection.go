package actors

import (
	"fmt"
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/warren-mq/warren/protocol"
)

// connection is the actor of one AMQP connection after open: it owns the channel → session map,
// demultiplexes frames to session actors (one message per session per read burst) and closes the
// connection (spec 2.4.3) when the peer asks, when a peer fault is found, or when the broker stops.
type connection struct {
	h        *connHandle
	log      *slog.Logger
	sessions map[uint16]*sessionEntry
	closed   bool
	// linkNames: live links by (role, name) across all sessions, for link stealing (spec 2.6.1: a link's
	// name is unique per container pair and role).
	linkNames map[linkKey]*actor.PID
	// exclusive queues this connection owns; deleted when it closes
	exclusive  []string
	sessionSeq int
	// outChannels: our outgoing channel numbers held by live or still-stopping session actors. Ours are
	// chosen independently of the peer's (spec 2.5.1) and freed only when the actor has terminated, so an
	// ended session's last frames can never be taken for a new session's on the same number.
	outChannels map[uint16]*actor.PID
}

type sessionEntry struct {
	pid   *actor.PID
	outCh uint16 // our channel for this session (the map key is the peer's)
	// ending: we sent end (an error or a crash) and wait for the peer's end; frames are dropped (2.5.x).
	ending bool
}

type linkKey struct {
	role protocol.Role
	name string
}

func newConnection(h *connHandle) *connection {
	return &connection{h: h, log: h.b.log.With("conn", h.id, "peer", h.peer),
		sessions: map[uint16]*sessionEntry{}, linkNames: map[linkKey]*actor.PID{}, outChannels: map[uint16]*actor.PID{}}
}

func (c *connection) Receive(ctx actor.Context) {
	c.h.b.faults.Check(ctx.Self().Id, ctx.Message())
	switch m := ctx.Message().(type) {
	case *inspect:
		ctx.Respond(m.fn(c))
	case *inFrames:
		c.frames(ctx, m.frames)
	case *connFailed:
		if m.lost {
			c.shutdown(ctx, nil, false)
		} else {
			c.log.Info("closing connection on peer fault", "condition", string(m.err.Condition), "description", m.err.Description)
			c.shutdown(ctx, m.err, true)
		}
	case *forceClose:
		c.shutdown(ctx, &protocol.Error{Condition: protocol.ErrConnectionForced, Description: m.reason}, true)
	case *connError:
		c.log.Info("closing connection", "condition", string(m.err.Condition), "description", m.err.Description)
		c.shutdown(ctx, m.err, true)
	case *claimLinkName:
		key := linkKey{m.role, m.name}
		if old := c.linkNames[key]; old != nil && !old.Equal(m.link) {
			// spec 2.6.1 / RabbitMQ, Artemis: a new attach with a live link's name steals it.
			ctx.Send(old, &linkStolen{})
		}
		c.linkNames[key] = m.link
	case *releaseLinkName:
		key := linkKey{m.role, m.name}
		if cur := c.linkNames[key]; cur != nil && cur.Equal(m.link) {
			delete(c.linkNames, key)
		}
	case *ownExclusive:
		c.exclusive = append(c.exclusive, m.queue)
	case *actor.Terminated:
		for ch, e := range c.sessions {
			if e.pid.Equal(m.Who) && !e.ending {
				delete(c.sessions, ch)
			}
		}
		for ch, pid := range c.outChannels {
			if pid.Equal(m.Who) {
				delete(c.outChannels, ch)
			}
		}
	case *actor.Started:
		c.h.b.met.OpenConnections.Add(1)
	case *actor.Stopped:
		c.h.b.met.OpenConnections.Add(-1)
		c.shutdown(ctx, &protocol.Error{Condition: protocol.ErrInternal, Description: "the connection failed inside the broker"}, true)
	}
}

func (c *connection) frames(ctx actor.Context, frames []inFrame) {
	if c.closed {
		return
	}
	// Group consecutive frames of one session so a burst costs one message per session. A group is a
	// sub-slice of the burst (capped, so a session can never append into its neighbour's frames): the
	// read loop hands each burst over for good, and sessions only read their frames.
	var cur uint16
	start := -1 // the current group is frames[start:i]; -1: none
	flush := func(end int) {
		if start >= 0 && end > start {
			if e := c.sessions[cur]; e != nil && !e.ending {
				ctx.Send(e.pid, &sessionFrames{frames: frames[start:end:end]})
			}
		}
		start = -1
	}
	for i, f := range frames {
		switch p := f.perf.(type) {
		case *protocol.Open:
			flush(i)
			c.shutdown(ctx, &protocol.Error{Condition: protocol.ErrIllegalState, Description: "open received twice"}, true)
			return
		case *protocol.Close:
			flush(i)
			if p.Error != nil {
				c.log.Info("peer closed with error", "condition", string(p.Error.Condition), "description", p.Error.Description)
			}
			c.shutdown(ctx, nil, true)
			return
		case *protocol.Begin:
			flush(i)
			if err := c.begin(ctx, f.channel, p); err != nil {
				c.shutdown(ctx, err, true)
				return
			}
		case *protocol.End:
			flush(i)
			e := c.sessions[f.channel]
			if e == nil {
				c.shutdown(ctx, unknownChannel(f.channel), true)
				return
			}
			// The channel is free once the peer's end is in: a new begin on it may follow at once.
			delete(c.sessions, f.channel)
			if e.ending {
				ctx.Stop(e.pid) // we had ended it already; the peer's end completes the exchange
			} else {
				ctx.Send(e.pid, &sessionFrames{frames: []inFrame{f}})
			}
		default:
			e := c.sessions[f.channel]
			if e == nil {
				flush(i)
				c.shutdown(ctx, unknownChannel(f.channel), true)
				return
			}
			if start < 0 || f.channel != cur {
				flush(i)
				cur, start = f.channel, i
			}
		}
	}
	flush(len(frames))
}

func unknownChannel(ch uint16) *protocol.Error {
	return &protocol.Error{Condition: protocol.ErrFramingError, Description: fmt.Sprintf("frame on channel %d, which has no session", ch)}
}

// begin starts a session (spec 2.5.1, 2.7.2) on the lowest free outgoing channel of ours.
func (c *connection) begin(ctx actor.Context, ch uint16, b *protocol.Begin) *protocol.Error {
	if ch > c.h.channelMax {
		return &protocol.Error{Condition: protocol.ErrFramingError,
			Description: fmt.Sprintf("channel %d exceeds channel-max %d", ch, c.h.channelMax)}
	}
	if b.RemoteChannel.Set {
		return &protocol.Error{Condition: protocol.ErrNotAllowed, Description: "begin with remote-channel set, but Warren never begins sessions"}
	}
	if _, busy := c.sessions[ch]; busy {
		return &protocol.Error{Condition: protocol.ErrNotAllowed, Description: fmt.Sprintf("begin on channel %d, which is in use", ch)}
	}
	out, ok := c.freeOutChannel()
	if !ok {
		return &protocol.Error{Condition: protocol.ErrResourceLimitExceeded, Description: "no free channel: too many sessions"}
	}
	props := inlineProps(func() actor.Actor { return newSession(c.h, ctx.Self(), out, ch, b) })
	// The name carries a sequence number: a session that just ended may still be stopping when the
	// peer begins a new one on the same channel.
	c.sessionSeq++
	pid, err := ctx.SpawnNamed(props, fmt.Sprintf("s%d-%d", ch, c.sessionSeq))
	if err != nil {
		return &protocol.Error{Condition: protocol.ErrInternal, Description: err.Error()}
	}
	c.sessions[ch] = &sessionEntry{pid: pid, outCh: out}
	c.outChannels[out] = pid
	return nil
}

func (c *connection) freeOutChannel() (uint16, bool) {
	for ch := 0; ch <= int(c.h.channelMax); ch++ {
		if _, used := c.outChannels[uint16(ch)]; !used {
			return uint16(ch), true
		}
	}
	return 0, false
}

// HandleFailure supervises the sessions (DESIGN.md §1): a crashed session is stopped, not restarted
// (its protocol state cannot be rebuilt); the peer gets end with amqp:internal-error and the connection
// lives on. It runs on this actor's mailbox, so it may touch the session map.
func (c *connection) HandleFailure(_ *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, rs *actor.RestartStatistics, reason, msg any) {
	decideFailure(child, rs, reason, msg).record(c.log, &c.h.b.restarts, c.h.b.met) // supervision.Policies: stop
	sup.StopChildren(child)
	for _, e := range c.sessions {
		if e.pid.Equal(child) && !e.ending && !c.closed {
			e.ending = true
			c.h.w.frame(e.outCh, &protocol.End{Error: &protocol.Error{Condition: protocol.ErrInternal,
				Description: "the session failed inside the broker; the connection lives on"}})
		}
	}
}

// shutdown closes the connection: close frame (with err when sendClose), flush, socket closed, actor
// stopped (which stops every session and link, and so returns their unsettled deliveries).
func (c *connection) shutdown(ctx actor.Context, err *protocol.Error, sendClose bool) {
	if c.closed {
		return
	}
	c.closed = true
	c.h.closing.Store(true)
	if sendClose {
		c.h.w.frame(0, &protocol.Close{Error: err})
	}
	for _, q := range c.exclusive {
		ctx.Send(c.h.vhost, &deleteQueue{name: q, reason: "its owning connection closed"})
	}
	go func() { // do not block the actor on a slow socket
		c.h.w.close()
		_ = c.h.conn.Close()
		close(c.h.closed)
	}()
	ctx.Stop(ctx.Self())
}

// forceClose is called by Broker.Shutdown from outside the actor system.
func (h *connHandle) forceClose(reason string) {
	pid := h.live.Load()
	if pid == nil {
		_ = h.conn.Close() // still in the handshake
		return
	}
	h.b.system.Root.Send(pid, &forceClose{reason: reason})
}

// connError asks the connection to close with an error (a session found a connection-level fault).
type connError struct{ err *protocol.Error }

type claimLinkName struct {
	role protocol.Role
	name string
	link *actor.PID
}

type releaseLinkName claimLinkName

type linkStolen struct{}

type ownExclusive struct{ queue string }
