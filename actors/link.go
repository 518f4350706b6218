package actors

import (
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/warren-mq/warren/protocol"
)

// linkBase is what both link actors share: where they live and the peer's attach.
type linkBase struct {
	h       *connHandle
	session *actor.PID
	ch      uint16
	handle  uint32
	name    string
	peer    *protocol.Attach
	log     *slog.Logger
	// detached: we sent our detach (a refusal, an error, or the answer to the peer's detach)
	detached bool
	// peerDetached: the peer's detach came in; once both are done the actor stops
	peerDetached bool
}

func (l *linkBase) init() {
	l.log = l.h.b.log.With("conn", l.h.id, "channel", l.ch, "handle", l.handle, "link", l.name)
}

// writeAttach answers the peer's attach directly on the socket: nothing of this link precedes it.
func (l *linkBase) writeAttach(a *protocol.Attach) {
	l.h.w.frame(l.ch, a)
}

// refuse answers an attach the spec way (2.6.3): an attach with a null terminus, then detach with the
// error. The actor stays until the peer's detach arrives.
func (l *linkBase) refuse(ctx actor.Context, role protocol.Role, err *protocol.Error) {
	a := &protocol.Attach{Name: l.name, Handle: l.handle, Role: role}
	if role == protocol.RoleSender {
		a.Target = l.peer.Target // we are the sender: the null terminus is the source
	} else {
		a.Source = l.peer.Source // we are the receiver: the null terminus is the target
	}
	l.writeAttach(a)
	l.detach(ctx, err)
	l.log.Info("attach refused", "condition", string(err.Condition), "description", err.Description)
}

// detach sends our detach through the session (so transfers waiting for this handle are dropped first).
func (l *linkBase) detach(ctx actor.Context, err *protocol.Error) {
	if l.detached {
		return
	}
	l.detached = true
	ctx.Send(l.session, &linkDetach{handle: l.handle, link: ctx.Self(), err: err})
	if l.peerDetached {
		ctx.Stop(ctx.Self())
	}
}

// onPeerDetach answers the peer's detach (spec 2.6.5) and stops the link.
func (l *linkBase) onPeerDetach(ctx actor.Context, d *protocol.Detach) {
	l.peerDetached = true
	if d.Error != nil {
		l.log.Info("peer detached with error", "condition", string(d.Error.Condition), "description", d.Error.Description)
	}
	if !l.detached {
		l.detached = true
		ctx.Send(l.session, &linkDetach{handle: l.handle, link: ctx.Self()})
	}
	ctx.Stop(ctx.Self())
}

func (l *linkBase) releaseName(ctx actor.Context, role protocol.Role) {
	ctx.Send(l.h.pid, &releaseLinkName{role: role, name: l.name, link: ctx.Self()})
}

// stolen: a new attach took this link's name (spec 2.6.1).
func (l *linkBase) stolen(ctx actor.Context) {
	l.detach(ctx, &protocol.Error{Condition: protocol.ErrStolen, Description: "a new link attached with this link's name"})
}
