package actors

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/warren-mq/warren/actors/definitions"
	"github.com/warren-mq/warren/actors/routing"
	"github.com/warren-mq/warren/protocol"
	"github.com/warren-mq/warren/supervision"
)

// vhost is the registry of one virtual host: it owns the exchange and queue actors (its children),
// the declared bindings, and answers address resolution at attach time. It is off the per-message hot
// path except for the anonymous relay (null target), where it resolves each message's `to`.
type vhost struct {
	b         *Broker
	name      string
	log       *slog.Logger
	exchanges map[string]*exchangeInfo
	queues    map[string]*queueInfo
	bindings  []bindingInfo // declared exchange→queue and exchange→exchange bindings, in order
	defaultX  *actor.PID    // the "" exchange: routes by queue name
	seed      *definitions.Definitions
	setupErr  error
	seq       int              // makes child actor names unique across re-declarations
	relayAnn  routeAnnotations // of messages published through a null target (ANONYMOUS-RELAY)
}

type exchangeInfo struct {
	pid      *actor.PID // the routing stage: holds the bindings
	front    *actor.PID // an extension actor in front (custom type or interceptor), else nil
	kind     string
	durable  bool
	autoDel  bool
	internal bool
	args     map[string]any
}

type queueInfo struct {
	pid   *actor.PID
	spec  queueSpec
	q     *queue     // the actor instance; read by the vhost only while the queue is failed (suspended)
	owner *actor.PID // the connection an exclusive queue belongs to (nil: none)
}

// own makes conn the owner of an exclusive queue: it alone may consume from it, and its closing
// deletes the queue (RabbitMQ's exclusive queues).
func (v *vhost) own(ctx actor.Context, q *queueInfo, conn *actor.PID) {
	if conn == nil {
		return
	}
	q.owner = conn
	ctx.Send(conn, &ownExclusive{queue: q.spec.name})
}

type bindingInfo struct {
	source string
	b      routing.Binding
}

var predeclared = []struct{ name, kind string }{
	{"amq.direct", "direct"}, {"amq.topic", "topic"}, {"amq.fanout", "fanout"},
	{"amq.headers", "headers"}, {"amq.match", "headers"},
}

func (b *Broker) createVhosts() error {
	names := []string{"/"}
	if d := b.opts.Definitions; d != nil {
		for _, v := range d.Vhosts {
			if !slices.Contains(names, v.Name) {
				names = append(names, v.Name)
			}
		}
	}
	for _, name := range names {
		v := &vhost{b: b, name: name, log: b.log.With("vhost", name), seed: b.opts.Definitions,
			exchanges: map[string]*exchangeInfo{}, queues: map[string]*queueInfo{}}
		pid, err := b.spawnUnderRoot(b.props(func() actor.Actor { return v }), "vhost-"+url.PathEscape(name))
		if err != nil {
			return fmt.Errorf("vhost %q: %w", name, err)
		}
		res, err := b.system.Root.RequestFuture(pid, &vhostReady{}, defaultAskTimeout).Result()
		if err != nil {
			return fmt.Errorf("vhost %q: %w", name, err)
		}
		if r, ok := res.(*opResult); ok && r.err != nil {
			return r.err
		}
		b.vhosts[name] = pid
	}
	return nil
}

// opResult answers a request that may fail (a nil reply is not a message).
type opResult struct{ err error }

const defaultAskTimeout = 10 * time.Second

// vhostReady asks whether the vhost applied its definitions; the answer is nil or an error.
type vhostReady struct{}

func (v *vhost) Receive(ctx actor.Context) {
	v.b.faults.Check(ctx.Self().Id, ctx.Message())
	switch m := ctx.Message().(type) {
	case *inspect:
		ctx.Respond(m.fn(v))
	case *actor.Started:
		v.setup(ctx)
	case *vhostReady:
		ctx.Respond(&opResult{err: v.setupErr})
	case *resolveTarget:
		ctx.Respond(v.resolveTarget(ctx, m))
	case *resolveSource:
		ctx.Respond(v.resolveSource(ctx, m))
	case *publishTo:
		v.publishTo(ctx, m)
	case *deadLetter:
		if x := v.exchanges[m.exchange]; x != nil {
			ctx.Send(x.publishPID(), &publishBatch{items: m.items})
		} else if m.exchange == "" {
			ctx.Send(v.defaultX, &publishBatch{items: m.items})
		}
	case *deleteQueue:
		v.deleteQueue(ctx, m.name, m.reason)
	case *declareQueue:
		_, err := v.declareQueue(ctx, m.spec)
		ctx.Respond(&opResult{err: errOrNil(err)})
	case *declareExchange:
		ctx.Respond(&opResult{err: errOrNil(v.declareExchange(ctx, m.name, m.kind, m.durable, m.autoDelete, m.internal, m.args))})
	case *mgmtRequest:
		v.management(ctx, m)
	case *exchangeRestarted:
		v.rebind(ctx, m)
	case *declareBinding:
		ctx.Respond(&opResult{err: errOrNil(v.bind(ctx, m.source, m.b))})
	}
}

func errOrNil(e *protocol.Error) error {
	if e == nil {
		return nil
	}
	return e
}

func (v *vhost) setup(ctx actor.Context) {
	// Rebuilt from scratch on (re)start: exchanges and queues are children and restart with us.
	v.exchanges, v.queues, v.bindings = map[string]*exchangeInfo{}, map[string]*queueInfo{}, nil
	v.defaultX = v.spawnExchange(ctx, "", "direct")
	for _, p := range predeclared {
		if err := v.declareExchange(ctx, p.name, p.kind, true, false, false, nil); err != nil {
			v.setupErr = err
			return
		}
	}
	if v.seed != nil {
		if v.setupErr = v.applyDefinitions(ctx, v.seed); v.setupErr != nil {
			return
		}
	}
	v.setupErr = v.restoreTopology(ctx)
}

func (v *vhost) applyDefinitions(ctx actor.Context, d *definitions.Definitions) error {
	for i, x := range d.Exchanges {
		if x.Vhost != v.name {
			continue
		}
		if err := v.declareExchange(ctx, x.Name, x.Type, x.Durable, x.AutoDelete, x.Internal, x.Arguments); err != nil {
			return fmt.Errorf("definitions: exchanges[%d] %q: %s", i, x.Name, err.Description)
		}
	}
	for i, q := range d.Queues {
		if q.Vhost != v.name {
			continue
		}
		spec, err := queueSpecFrom(q.Name, q.Durable, q.AutoDelete, q.Exclusive, q.Arguments)
		if err == nil {
			_, err = v.declareQueue(ctx, spec)
		}
		if err != nil {
			return fmt.Errorf("definitions: queues[%d] %q: %s", i, q.Name, err.Description)
		}
	}
	for i, bd := range d.Bindings {
		if bd.Vhost != v.name {
			continue
		}
		dest := routing.Destination{Exchange: bd.DestinationType == "exchange", Name: bd.Destination}
		if err := v.bind(ctx, bd.Source, routing.Binding{Destination: dest, Key: bd.RoutingKey, Args: bd.Arguments}); err != nil {
			return fmt.Errorf("definitions: bindings[%d] %s → %s: %s", i, bd.Source, bd.Destination, err.Description)
		}
	}
	return nil
}

// spawnExchange starts an exchange actor. The producer returns the same instance on a restart: the
// exchange then rebuilds its bindings from the vhost (exchangeRestarted).
func (v *vhost) spawnExchange(ctx actor.Context, name, kind string) *actor.PID {
	x := newExchange(v.b, ctx.Self(), v.name, name, kind)
	v.seq++
	pid, err := ctx.SpawnNamed(v.b.props(func() actor.Actor { return x }),
		fmt.Sprintf("%s%s-%d", supervision.PrefixExchange, url.PathEscape(name), v.seq))
	if err != nil {
		panic("warren: spawning exchange: " + err.Error()) // names are unique by construction
	}
	return pid
}

func (v *vhost) declareExchange(ctx actor.Context, name, kind string, durable, autoDel, internal bool, args map[string]any) *protocol.Error {
	if x := v.exchanges[name]; x != nil {
		if x.kind != kind || x.durable != durable {
			return &protocol.Error{Condition: protocol.ErrPreconditionFailed,
				Description: fmt.Sprintf("exchange %q exists as %s (durable=%t)", name, x.kind, x.durable)}
		}
		return nil
	}
	front, routeKind, err := v.b.frontFor(v.name, name, kind, args)
	if err != nil {
		return &protocol.Error{Condition: protocol.ErrPreconditionFailed, Description: fmt.Sprintf("exchange %q: %v", name, err)}
	}
	if _, err := routing.NewTable(routing.Kind(routeKind)); err != nil {
		return &protocol.Error{Condition: protocol.ErrNotImplemented, Description: fmt.Sprintf("exchange type %q is not supported", kind)}
	}
	info := &exchangeInfo{pid: v.spawnExchange(ctx, name, routeKind), kind: kind, durable: durable,
		autoDel: autoDel, internal: internal, args: maps.Clone(args)}
	if front != nil {
		info.front = v.spawnFront(ctx, front, name, kind, args, info.pid)
	}
	v.exchanges[name] = info
	if durable && !strings.HasPrefix(name, "amq.") {
		v.persistRecord(recExchange, name, definitions.Exchange{Name: name, Vhost: v.name, Type: kind, Durable: durable,
			AutoDelete: autoDel, Internal: internal, Arguments: args})
	}
	return nil
}

func (v *vhost) declareQueue(ctx actor.Context, spec queueSpec) (*queueInfo, *protocol.Error) {
	if q := v.queues[spec.name]; q != nil {
		if q.spec.durable != spec.durable || q.spec.exclusive != spec.exclusive {
			return nil, &protocol.Error{Condition: protocol.ErrPreconditionFailed,
				Description: fmt.Sprintf("queue %q exists with other properties", spec.name)}
		}
		return q, nil
	}
	if max := v.b.opts.Limits.MaxQueuesPerVhost; max > 0 && len(v.queues) >= max {
		return nil, &protocol.Error{Condition: protocol.ErrResourceLimitExceeded,
			Description: fmt.Sprintf("virtual host %q has reached its queue limit (%d)", v.name, max)}
	}
	// The producer returns the same instance on a restart, so a restarted queue keeps its messages,
	// consumers and unsettled deliveries (DESIGN.md §1; with the store, durable state is on disk too).
	inst := newQueue(v.b, ctx.Self(), v.name, spec)
	if newFront := v.b.queueFrontFor(v.name, spec.name); newFront != nil {
		inst.deliverVia = v.spawnQueueFront(ctx, newFront, spec.name)
	}
	v.b.queueIndex.Store(queueKey{v.name, spec.name}, inst)
	v.seq++
	pid, err := ctx.SpawnNamed(v.b.props(func() actor.Actor { return inst }),
		fmt.Sprintf("%s%s-%d", supervision.PrefixQueue, url.PathEscape(spec.name), v.seq))
	if err != nil {
		return nil, &protocol.Error{Condition: protocol.ErrInternal, Description: err.Error()}
	}
	q := &queueInfo{pid: pid, spec: spec, q: inst}
	v.queues[spec.name] = q
	if spec.durable && !spec.exclusive {
		v.persistRecord(recQueue, spec.name, definitions.Queue{Name: spec.name, Vhost: v.name, Durable: true,
			AutoDelete: spec.autoDelete, Arguments: spec.args})
	}
	ctx.Send(v.defaultX, &addBinding{b: routing.Binding{Destination: routing.Destination{Name: spec.name}, Key: spec.name}, pid: q.pid})
	return q, nil
}

func (v *vhost) bind(ctx actor.Context, source string, b routing.Binding) *protocol.Error {
	x := v.exchanges[source]
	if x == nil || source == "" {
		return &protocol.Error{Condition: protocol.ErrNotFound, Description: fmt.Sprintf("exchange %q not found", source)}
	}
	var pid *actor.PID
	if b.Destination.Exchange {
		if d := v.exchanges[b.Destination.Name]; d != nil {
			pid = d.publishPID()
		}
	} else if q := v.queues[b.Destination.Name]; q != nil {
		pid = q.pid
	}
	if pid == nil {
		return &protocol.Error{Condition: protocol.ErrNotFound, Description: fmt.Sprintf("binding destination %q not found", b.Destination.Name)}
	}
	for _, have := range v.bindings {
		if have.source == source && have.b.Destination == b.Destination && have.b.Key == b.Key && sameArgs(have.b.Args, b.Args) {
			return nil // binding is idempotent
		}
	}
	v.bindings = append(v.bindings, bindingInfo{source: source, b: b})
	if v.durableEnds(source, b.Destination) {
		dtype := definitions.DestinationQueue
		if b.Destination.Exchange {
			dtype = definitions.DestinationExchange
		}
		v.persistRecord(recBinding, bindingRecordKey(source, b), definitions.Binding{Source: source, Vhost: v.name,
			Destination: b.Destination.Name, DestinationType: dtype, RoutingKey: b.Key, Arguments: b.Args})
	}
	ctx.Send(x.pid, &addBinding{b: b, pid: pid})
	return nil
}

func (v *vhost) deleteQueue(ctx actor.Context, name, reason string) {
	q := v.queues[name]
	if q == nil {
		return
	}
	delete(v.queues, name)
	v.deleteRecord(recQueue, name)
	v.b.queueIndex.Delete(queueKey{v.name, name})
	v.b.met.ForgetQueue(v.name, name)
	dest := routing.Destination{Name: name}
	ctx.Send(v.defaultX, &removeDestination{dest: dest})
	kept := v.bindings[:0]
	for _, b := range v.bindings {
		if b.b.Destination == dest {
			if x := v.exchanges[b.source]; x != nil {
				ctx.Send(x.pid, &removeDestination{dest: dest})
			}
			v.deleteRecord(recBinding, bindingRecordKey(b.source, b.b))
			continue
		}
		kept = append(kept, b)
	}
	v.bindings = kept
	ctx.Send(q.pid, &queueDelete{reason: reason})
	v.log.Debug("queue deleted", "queue", name, "reason", reason)
}

// resolveTarget answers a producer's attach: where its messages go.
func (v *vhost) resolveTarget(ctx actor.Context, r *resolveTarget) *targetResolved {
	if r.anonymous {
		return &targetResolved{anonymous: true}
	}
	a, err := parseAddress(r.address)
	if err != nil {
		return &targetResolved{err: err}
	}
	return v.targetFor(ctx, a, r.user)
}

// targetFor resolves where a publish goes, checking the user's write permission on the exchange (the
// default exchange, "amq.default", for queue addresses) and configure to auto-create a queue.
func (v *vhost) targetFor(ctx actor.Context, a address, user string) *targetResolved {
	if a.isQueue {
		if err := v.b.auth.allowed(user, v.name, permWrite, "exchange", ""); err != nil {
			return &targetResolved{err: err}
		}
		q := v.queues[a.queue]
		if q == nil && a.bare {
			if err := v.b.auth.allowed(user, v.name, permConfigure, "queue", a.queue); err != nil {
				return &targetResolved{err: err}
			}
			var err *protocol.Error
			if q, err = v.declareQueue(ctx, plainQueue(a.queue, true, false, false)); err != nil {
				return &targetResolved{err: err}
			}
		}
		if q == nil {
			return &targetResolved{err: notFound("queue", a.queue)}
		}
		return &targetResolved{pid: q.pid, toQueue: true, key: a.queue}
	}
	x := v.exchanges[a.exchange]
	if x == nil {
		return &targetResolved{err: notFound("exchange", a.exchange)}
	}
	if err := v.b.auth.allowed(user, v.name, permWrite, "exchange", a.exchange); err != nil {
		return &targetResolved{err: err}
	}
	if x.internal {
		return &targetResolved{err: &protocol.Error{Condition: protocol.ErrNotAllowed,
			Description: fmt.Sprintf("exchange %q is internal: it cannot be published to", a.exchange)}}
	}
	return &targetResolved{pid: x.publishPID(), exchange: a.exchange, key: a.key, useSubject: !a.hasKey}
}

// publishPID is where publishes to the exchange go: its extension when it has one.
func (x *exchangeInfo) publishPID() *actor.PID {
	if x.front != nil {
		return x.front
	}
	return x.pid
}

// durableEnds: a binding is kept on disk when its source and destination are (RabbitMQ).
func (v *vhost) durableEnds(source string, d routing.Destination) bool {
	if x := v.exchanges[source]; x == nil || !x.durable {
		return false
	}
	if d.Exchange {
		x := v.exchanges[d.Name]
		return x != nil && x.durable
	}
	q := v.queues[d.Name]
	return q != nil && q.spec.durable && !q.spec.exclusive
}

func notFound(kind, name string) *protocol.Error {
	return &protocol.Error{Condition: protocol.ErrNotFound, Description: fmt.Sprintf("no %s %q in this virtual host", kind, name)}
}

// resolveSource answers a consumer's attach: the queue it consumes from.
func (v *vhost) resolveSource(ctx actor.Context, r *resolveSource) *sourceResolved {
	if r.dynamic {
		name := "amq.gen-" + randomID()
		if err := v.b.auth.allowed(r.user, v.name, permConfigure, "queue", name); err != nil {
			return &sourceResolved{err: err}
		}
		if err := v.b.auth.allowed(r.user, v.name, permRead, "queue", name); err != nil {
			return &sourceResolved{err: err}
		}
		q, err := v.declareQueue(ctx, plainQueue(name, false, true, true))
		if err != nil {
			return &sourceResolved{err: err}
		}
		v.own(ctx, q, r.conn)
		return &sourceResolved{queue: q.pid, name: name, address: address{queue: name, isQueue: true}.String(), dynamic: true}
	}
	a, err := parseAddress(r.address)
	if err != nil {
		return &sourceResolved{err: err}
	}
	if !a.isQueue {
		return &sourceResolved{err: &protocol.Error{Condition: protocol.ErrInvalidField,
			Description: fmt.Sprintf("consume from a queue (/queues/{queue}), not %q", r.address)}}
	}
	if err := v.b.auth.allowed(r.user, v.name, permRead, "queue", a.queue); err != nil {
		return &sourceResolved{err: err}
	}
	q := v.queues[a.queue]
	if q == nil && a.bare {
		if err := v.b.auth.allowed(r.user, v.name, permConfigure, "queue", a.queue); err != nil {
			return &sourceResolved{err: err}
		}
		if q, err = v.declareQueue(ctx, plainQueue(a.queue, true, false, false)); err != nil {
			return &sourceResolved{err: err}
		}
	}
	if q == nil {
		return &sourceResolved{err: notFound("queue", a.queue)}
	}
	if q.spec.exclusive && q.owner != nil && !q.owner.Equal(r.conn) {
		return &sourceResolved{err: &protocol.Error{Condition: protocol.ErrResourceLocked,
			Description: fmt.Sprintf("queue %q is exclusive to another connection", a.queue)}}
	}
	return &sourceResolved{queue: q.pid, name: a.queue, address: r.address}
}

// publishTo is the anonymous relay: resolve the message's `to` and pass it on.
func (v *vhost) publishTo(ctx actor.Context, m *publishTo) {
	fail := func(err *protocol.Error) {
		if m.item.ref.link != nil {
			ctx.Send(m.item.ref.link, &confirmBatch{items: []confirm{{seq: m.item.ref.seq, delta: -1, err: err}}})
		}
	}
	a, err := parseAddress(m.address)
	if err != nil {
		fail(err)
		return
	}
	user := m.user
	if m.trusted {
		user = internalUser
	}
	t := v.targetFor(ctx, a, user)
	if t.err != nil {
		fail(t.err)
		return
	}
	key := t.key
	if t.useSubject {
		key = m.item.msg.properties().Subject.V
	}
	msg := m.item.msg
	if m.fromClient {
		v.b.met.ExchangeLabels(v.name, t.exchange).Published.Add(1)
		pm := msg.parsed()
		m.item.span = v.b.spanReceive(&pm, t.exchange, key, m.client, m.peer)
	}
	if m.fromClient {
		// The producer link built this message for this relay alone: name its route in place.
		msg.exchange, msg.routingKey, msg.annotations = t.exchange, key, v.relayAnn.get(t.exchange, key)
	} else {
		m.item.msg = msg.rerouted(t.exchange, key, &v.relayAnn) // an extension's copy: its original stays
	}
	if t.toQueue {
		ctx.Send(t.pid, &enqueueBatch{items: []publish{m.item}})
	} else {
		ctx.Send(t.pid, &publishBatch{items: []publish{m.item}})
	}
}

func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// --- messages to the vhost -----------------------------------------------------------------------------

type resolveTarget struct {
	address   string
	anonymous bool
	user      string
	conn      *actor.PID
}

type targetResolved struct {
	pid        *actor.PID
	toQueue    bool
	anonymous  bool
	exchange   string
	key        string
	useSubject bool // /exchanges/{x}: the routing key is each message's subject
	err        *protocol.Error
}

type resolveSource struct {
	address string
	dynamic bool
	user    string
	conn    *actor.PID
}

type sourceResolved struct {
	queue   *actor.PID
	name    string
	address string
	dynamic bool
	err     *protocol.Error
}

type publishTo struct {
	address string
	user    string
	item    publish
	trusted bool // from an extension inside the broker: no permission checks
	// fromClient: a producer's message on a null target (ANONYMOUS-RELAY): the vhost counts it as
	// published to the exchange its `to` names and starts its receive span (client and peer name it).
	fromClient   bool
	client, peer string
}

type deadLetter struct {
	exchange string
	items    []publish
}

type deleteQueue struct{ name, reason string }

type declareQueue struct{ spec queueSpec }

type declareExchange struct {
	name, kind                    string
	durable, autoDelete, internal bool
	args                          map[string]any
}

type declareBinding struct {
	source string
	b      routing.Binding
}
