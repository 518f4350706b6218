package actors

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/warren-mq/warren/actors/routing"
	"github.com/warren-mq/warren/protocol"
)

// Snapshots of actor state for the HTTP API, taken with *inspect on each actor's own goroutine and
// copied there, so handlers never share mutable state with an actor. Handlers call these from HTTP
// goroutines only (never from inside an actor's Receive: a future waited on there would block it).

// errActorGone: the actor stopped between listing it and asking it (a queue deleted meanwhile).
var errActorGone = errors.New("the actor is gone")

type apiBox[T any] struct{ v T }

// inspectActor runs fn on the actor at pid (which must be an A) and returns its result.
func inspectActor[A any, T any](b *Broker, pid *actor.PID, fn func(A) T) (T, error) {
	var zero T
	res, err := b.system.Root.RequestFuture(pid, &inspect{fn: func(a any) any {
		x, ok := a.(A)
		if !ok {
			return nil
		}
		return &apiBox[T]{v: fn(x)}
	}}, apiAskTimeout).Result()
	if err != nil {
		if errors.Is(err, actor.ErrDeadLetter) {
			return zero, errActorGone
		}
		return zero, err
	}
	box, ok := res.(*apiBox[T])
	if !ok {
		return zero, fmt.Errorf("unexpected inspect reply %T", res)
	}
	return box.v, nil
}

// --- vhosts -------------------------------------------------------------------------------------------

type apiVhostView struct {
	name      string
	queues    []apiQueueView    // by name
	exchanges []apiExchangeView // by name; the default exchange "" first
	bindings  []apiBindingView  // declared bindings, in declaration order
}

type apiQueueView struct {
	name                           string
	pid                            *actor.PID
	durable, autoDelete, exclusive bool
	args                           map[string]any
}

type apiExchangeView struct {
	name, kind                    string
	durable, autoDelete, internal bool
	args                          map[string]any
}

type apiBindingView struct {
	vhost  string
	source string
	dest   routing.Destination
	key    string
	args   map[string]any
}

func (b *Broker) vhostView(name string) (*apiVhostView, error) {
	pid := b.vhosts[name]
	if pid == nil {
		return nil, fmt.Errorf("no virtual host %q", name)
	}
	return inspectActor(b, pid, func(v *vhost) *apiVhostView {
		out := &apiVhostView{name: v.name}
		for _, q := range v.queues {
			out.queues = append(out.queues, apiQueueView{name: q.spec.name, pid: q.pid, durable: q.spec.durable,
				autoDelete: q.spec.autoDelete, exclusive: q.spec.exclusive, args: maps.Clone(q.spec.args)})
		}
		out.exchanges = append(out.exchanges, apiExchangeView{name: "", kind: "direct", durable: true})
		for n, x := range v.exchanges {
			out.exchanges = append(out.exchanges, apiExchangeView{name: n, kind: x.kind, durable: x.durable,
				autoDelete: x.autoDel, internal: x.internal, args: maps.Clone(x.args)})
		}
		for _, bd := range v.bindings {
			out.bindings = append(out.bindings, apiBindingView{vhost: v.name, source: bd.source, dest: bd.b.Destination,
				key: bd.b.Key, args: maps.Clone(bd.b.Args)})
		}
		return out
	})
}

func (b *Broker) vhostViews(names []string) ([]*apiVhostView, error) {
	out := make([]*apiVhostView, 0, len(names))
	for _, n := range names {
		v, err := b.vhostView(n)
		if err != nil {
			return nil, err
		}
		slices.SortFunc(v.queues, func(a, c apiQueueView) int { return cmp.Compare(a.name, c.name) })
		slices.SortFunc(v.exchanges, func(a, c apiExchangeView) int { return cmp.Compare(a.name, c.name) })
		out = append(out, v)
	}
	return out, nil
}

func (v *apiVhostView) queue(name string) (apiQueueView, bool) {
	for _, q := range v.queues {
		if q.name == name {
			return q, true
		}
	}
	return apiQueueView{}, false
}

func (v *apiVhostView) exchange(name string) (apiExchangeView, bool) {
	for _, x := range v.exchanges {
		if x.name == name {
			return x, true
		}
	}
	return apiExchangeView{}, false
}

// allBindings are the declared bindings plus, first, the default exchange's implicit binding of each
// queue (routing key = the queue's name), which RabbitMQ lists too.
func (v *apiVhostView) allBindings() []apiBindingView {
	out := make([]apiBindingView, 0, len(v.queues)+len(v.bindings))
	for _, q := range v.queues {
		out = append(out, apiBindingView{vhost: v.name, dest: routing.Destination{Name: q.name}, key: q.name})
	}
	return append(out, v.bindings...)
}

// --- queues -------------------------------------------------------------------------------------------

type apiQueueCounts struct {
	ready, unacked, consumers int
	readyBytes                int64
}

// queueCounts asks every queue for its counts at once, then collects the answers; a queue deleted
// meanwhile is reported with ok false.
func (b *Broker) queueCounts(qs []apiQueueView) ([]apiQueueCounts, []bool) {
	futures := make([]*actor.Future, len(qs))
	for i, q := range qs {
		futures[i] = b.system.Root.RequestFuture(q.pid, &inspect{fn: func(a any) any {
			qa, ok := a.(*queue)
			if !ok {
				return nil
			}
			return &apiQueueCounts{ready: qa.length(), unacked: len(qa.unacked), consumers: len(qa.consumers), readyBytes: qa.readyBytes}
		}}, apiAskTimeout)
	}
	counts := make([]apiQueueCounts, len(qs))
	ok := make([]bool, len(qs))
	for i, f := range futures {
		res, err := f.Result()
		if c, isCounts := res.(*apiQueueCounts); err == nil && isCounts {
			counts[i], ok[i] = *c, true
		}
	}
	return counts, ok
}

// --- connections, sessions, links ---------------------------------------------------------------------

// apiConns lists the connections past their handshake (those with a connection actor), by id.
func (b *Broker) apiConns() []*connHandle {
	b.mu.Lock()
	out := make([]*connHandle, 0, len(b.conns))
	for c := range b.conns {
		if c.live.Load() != nil {
			out = append(out, c)
		}
	}
	b.mu.Unlock()
	slices.SortFunc(out, func(a, c *connHandle) int { return cmp.Compare(connNumber(a.id), connNumber(c.id)) })
	return out
}

func connNumber(id string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(id, "conn-"))
	return n
}

func (b *Broker) apiConnByName(name string) *connHandle {
	for _, c := range b.apiConns() {
		if c.id == name {
			return c
		}
	}
	return nil
}

type apiSessionRef struct {
	channel, outChannel uint16
	pid                 *actor.PID
}

type apiConnView struct {
	sessions []apiSessionRef // by the peer's channel
	closed   bool
}

func (b *Broker) connView(h *connHandle) (*apiConnView, error) {
	pid := h.live.Load()
	if pid == nil {
		return nil, errActorGone
	}
	return inspectActor(b, pid, func(c *connection) *apiConnView {
		out := &apiConnView{closed: c.closed}
		for ch, e := range c.sessions {
			if !e.ending {
				out.sessions = append(out.sessions, apiSessionRef{channel: ch, outChannel: e.outCh, pid: e.pid})
			}
		}
		slices.SortFunc(out.sessions, func(a, c apiSessionRef) int { return cmp.Compare(a.channel, c.channel) })
		return out
	})
}

type apiLinkRef struct {
	handle uint32
	name   string
	role   protocol.Role // the peer's role
	pid    *actor.PID
}

type apiSessionView struct {
	nextIncomingID, incomingWindow       uint32
	nextOutgoingID, remoteIncomingWindow uint32
	unsettled, pending                   int
	links                                []apiLinkRef // by handle
}

func (b *Broker) sessionView(pid *actor.PID) (*apiSessionView, error) {
	return inspectActor(b, pid, func(s *session) *apiSessionView {
		out := &apiSessionView{nextIncomingID: s.nextIncomingID, incomingWindow: s.incomingWindow,
			nextOutgoingID: s.nextOutgoingID, remoteIncomingWindow: s.remoteIncomingWindow,
			unsettled: len(s.unsettled), pending: len(s.pending)}
		for h, e := range s.links {
			out.links = append(out.links, apiLinkRef{handle: h, name: e.name, role: e.role, pid: e.pid})
		}
		slices.SortFunc(out.links, func(a, c apiLinkRef) int { return cmp.Compare(a.handle, c.handle) })
		return out
	})
}

// apiLinkView describes one link from the broker's side: a consumer's link (the broker sends, from a
// queue) or a producer's link (the broker receives, into a target).
type apiLinkView struct {
	consumer      bool
	management    bool
	address       string // the queue's address (consumer) or the target address (producer)
	queue         string // consumer: the queue it consumes from
	credit        uint32
	deliveryCount uint32
	presettled    bool // consumer: snd-settle-mode settled (no acknowledgements)
	unconfirmed   int  // producer: deliveries waiting for their queues
	rcvSecond     bool // producer: rcv-settle-mode second
}

func (b *Broker) linkView(pid *actor.PID) (*apiLinkView, error) {
	return inspectActor(b, pid, func(a any) *apiLinkView {
		switch l := a.(type) {
		case *senderLink:
			return &apiLinkView{consumer: true, management: l.mgmt, address: l.pendingAddress, queue: l.queueName,
				credit: l.credit, deliveryCount: l.deliveryCount, presettled: l.presettled}
		case *receiverLink:
			out := &apiLinkView{management: l.mgmt, credit: l.credit, deliveryCount: l.deliveryCount,
				unconfirmed: len(l.pending), rcvSecond: l.rcvSecond}
			if t := l.peer.Target; t != nil && t.Address.Set {
				out.address = t.Address.V
			}
			return out
		}
		return nil
	})
}
