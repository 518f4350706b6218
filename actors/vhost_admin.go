package actors

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/warren-mq/warren/actors/routing"
	"github.com/warren-mq/warren/protocol"
)

// Management operations of a vhost, in the shape of RabbitMQ 4's HTTP-over-AMQP management node: a
// method, a path and an AMQP-value body in; a status code and an AMQP-value body out. The /management
// link pair (management.go) and the HTTP API (http_api_topology.go, http_api_bindings.go) call these.

type mgmtRequest struct {
	method string
	path   string
	body   any
	user   string // whose permissions apply (RabbitMQ's: configure to declare/delete, write/read to bind)
	// conn is the requesting connection over AMQP: it owns the exclusive queues it declares (deleted
	// when it closes, as RabbitMQ's owner). nil over HTTP, which cannot declare exclusive queues.
	conn *actor.PID
}

type mgmtResponse struct {
	status int
	body   any
}

type queueStats struct{}
type queuePurge struct{}
type queueStatsReply struct{ messages, consumers int }

type removeBinding struct{ b routing.Binding }
type exchangeDeleted struct{}

func mgmtErr(status int, format string, a ...any) *mgmtResponse {
	return &mgmtResponse{status: status, body: fmt.Sprintf(format, a...)}
}

// management answers one request; replies go to the sender of the request (directly, or after asking a
// queue for its counts). The checks follow RabbitMQ 4's rabbit_amqp_management: a malformed body or name
// is 400, the default exchange and new amq.* names are 403, then the user's permissions (403).
func (v *vhost) management(ctx actor.Context, r *mgmtRequest) {
	reply := ctx.Sender()
	respond := func(res *mgmtResponse) { ctx.Send(reply, res) }
	path, query, _ := strings.Cut(r.path, "?")
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	raw := slices.Clone(segs) // a binding's location is split on ';' before its parts are decoded
	for i, s := range segs {
		d, err := url.PathUnescape(s)
		if err != nil {
			respond(mgmtErr(400, "path %q is not percent-encoded correctly", r.path))
			return
		}
		segs[i] = d
	}
	switch {
	case len(segs) == 2 && segs[0] == "queues":
		v.mgmtQueue(ctx, r, segs[1], respond)
	case len(segs) == 3 && segs[0] == "queues" && segs[2] == "messages" && r.method == "DELETE":
		if denied := v.denied(r.user, permRead, "queue", segs[1]); denied != nil {
			respond(denied)
			return
		}
		q := v.queues[segs[1]]
		if q == nil {
			respond(mgmtErr(404, "queue %q not found", segs[1]))
			return
		}
		v.askQueue(ctx, q.pid, &queuePurge{}, func(s *queueStatsReply) *mgmtResponse {
			return &mgmtResponse{status: 200, body: protocol.Map{{Key: "message_count", Value: uint64(s.messages)}}}
		}, respond)
	case len(segs) == 2 && segs[0] == "exchanges":
		respond(v.mgmtExchange(ctx, r, segs[1]))
	case len(segs) == 1 && segs[0] == "bindings" && r.method == "POST":
		respond(v.mgmtBind(ctx, r.body, r.user))
	case len(segs) == 1 && segs[0] == "bindings" && r.method == "GET":
		respond(v.mgmtListBindings(query))
	case len(segs) == 2 && segs[0] == "bindings" && r.method == "DELETE":
		respond(v.mgmtUnbind(ctx, raw[1], r.user))
	default:
		respond(mgmtErr(404, "no operation %s %s", r.method, r.path))
	}
}

// denied checks one permission of user in this vhost: nil when granted, else a 403.
func (v *vhost) denied(user string, kind permKind, resKind, name string) *mgmtResponse {
	if err := v.b.auth.allowed(user, v.name, kind, resKind, name); err != nil {
		return mgmtErr(403, "%s", err.Description)
	}
	return nil
}

// badName refuses names with line breaks (RabbitMQ's prohibit_cr_lf).
func badName(kind, name string) *mgmtResponse {
	if strings.ContainsAny(name, "\r\n") {
		return mgmtErr(400, "bad %s name %q: line feed and carriage return characters are not allowed", kind, name)
	}
	return nil
}

// askQueue asks a queue for its counts without blocking the vhost (PROTOACTOR.md: no futures waited
// on inside Receive).
func (v *vhost) askQueue(ctx actor.Context, pid *actor.PID, msg any, build func(*queueStatsReply) *mgmtResponse, respond func(*mgmtResponse)) {
	f := ctx.RequestFuture(pid, msg, defaultAskTimeout)
	ctx.ReenterAfter(f, func(res any, err error) {
		s, ok := res.(*queueStatsReply)
		if err != nil || !ok {
			respond(mgmtErr(500, "queue did not answer: %v", err))
			return
		}
		respond(build(s))
	})
}

// nodeName names this broker as RabbitMQ names a node ("rabbit@host"): a queue's leader and replicas.
var nodeName = sync.OnceValue(func() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return "warren@" + host
})

// queueInfo is the body of GET and PUT /queues/{q}, with RabbitMQ's field types (message_count ulong,
// consumer_count uint). leader and replicas (an array of strings) are what RabbitMQ sends for a classic
// queue: its node. RabbitMQ's Go and .NET clients read replicas unconditionally.
func (v *vhost) queueInfo(q *queueInfo, s *queueStatsReply) protocol.Map {
	args := protocol.Map{}
	for _, k := range slices.Sorted(maps.Keys(q.spec.args)) {
		args = append(args, protocol.MapEntry{Key: k, Value: q.spec.args[k]})
	}
	return protocol.Map{
		{Key: "name", Value: q.spec.name}, {Key: "vhost", Value: v.name},
		{Key: "durable", Value: q.spec.durable}, {Key: "auto_delete", Value: q.spec.autoDelete},
		{Key: "exclusive", Value: q.spec.exclusive}, {Key: "type", Value: "classic"},
		{Key: "arguments", Value: args},
		{Key: "leader", Value: nodeName()}, {Key: "replicas", Value: []string{nodeName()}},
		{Key: "message_count", Value: uint64(s.messages)}, {Key: "consumer_count", Value: uint32(s.consumers)},
	}
}

// mgmtFields walks a request body: every field must be one of set's, of the type its setter takes
// (RabbitMQ answers 400 "bad queue property" otherwise). A null body has no fields.
func mgmtFields(body any, what string, set map[string]func(any) bool) *mgmtResponse {
	if body == nil {
		return nil
	}
	m, ok := body.(protocol.Map)
	if !ok {
		return mgmtErr(400, "the body must be a map, not %T", body)
	}
	for _, e := range m {
		k, isString := e.Key.(string)
		f := set[k]
		if !isString || f == nil {
			return mgmtErr(400, "bad %s field %v", what, e.Key)
		}
		if !f(e.Value) {
			return mgmtErr(400, "bad %s field %s: %v (%T)", what, k, e.Value, e.Value)
		}
	}
	return nil
}

func boolField(p *bool) func(any) bool {
	return func(v any) bool {
		b, ok := v.(bool)
		*p = b
		return ok
	}
}

func stringField(p *string, set *bool) func(any) bool {
	return func(v any) bool {
		s, ok := v.(string)
		*p, *set = s, ok
		return ok
	}
}

func argsField(p *map[string]any) func(any) bool {
	return func(v any) bool {
		args, err := mapArgs(protocol.Map{{Key: "arguments", Value: v}}, "arguments")
		*p = args
		return err == nil
	}
}

func (v *vhost) mgmtQueue(ctx actor.Context, r *mgmtRequest, name string, respond func(*mgmtResponse)) {
	q := v.queues[name]
	switch r.method {
	case "GET":
		if q == nil {
			respond(mgmtErr(404, "queue %q not found", name))
			return
		}
		v.askQueue(ctx, q.pid, &queueStats{}, func(s *queueStatsReply) *mgmtResponse {
			return &mgmtResponse{status: 200, body: v.queueInfo(q, s)}
		}, respond)
	case "PUT":
		durable, autoDelete, exclusive := true, false, false
		var args map[string]any
		if bad := mgmtFields(r.body, "queue", map[string]func(any) bool{"durable": boolField(&durable),
			"auto_delete": boolField(&autoDelete), "exclusive": boolField(&exclusive), "arguments": argsField(&args)}); bad != nil {
			respond(bad)
			return
		}
		if name == "" {
			respond(mgmtErr(400, "declare queue with empty name not allowed"))
			return
		}
		if bad := badName("queue", name); bad != nil {
			respond(bad)
			return
		}
		if strings.HasPrefix(name, "amq.") {
			respond(mgmtErr(403, "queue %q starts with reserved prefix 'amq.'", name))
			return
		}
		if denied := v.denied(r.user, permConfigure, "queue", name); denied != nil {
			respond(denied)
			return
		}
		if exclusive && r.conn == nil {
			respond(mgmtErr(400, "an exclusive queue belongs to a connection: declare it over AMQP"))
			return
		}
		spec, perr := queueSpecFrom(name, durable, autoDelete, exclusive, args)
		if perr != nil {
			respond(mgmtErr(400, "%s", perr.Description))
			return
		}
		status := 201
		if q != nil {
			if q.spec.durable != spec.durable || q.spec.exclusive != spec.exclusive || q.spec.autoDelete != spec.autoDelete || !sameArgs(q.spec.args, spec.args) {
				respond(mgmtErr(409, "queue %q exists with different properties", name))
				return
			}
			status = 200
		} else {
			if spec.hasDLX { // RabbitMQ: dead-lettering reads from the queue and writes to its exchange
				if denied := v.denied(r.user, permRead, "queue", name); denied != nil {
					respond(denied)
					return
				}
				if denied := v.denied(r.user, permWrite, "exchange", spec.dlx); denied != nil {
					respond(denied)
					return
				}
			}
			if q, perr = v.declareQueue(ctx, spec); perr != nil {
				switch perr.Condition {
				case protocol.ErrResourceLimitExceeded:
					respond(mgmtErr(403, "%s", perr.Description))
				case protocol.ErrPreconditionFailed:
					respond(mgmtErr(409, "%s", perr.Description))
				default:
					respond(mgmtErr(500, "%s", perr.Description))
				}
				return
			}
			if exclusive {
				v.own(ctx, q, r.conn) // only it may consume; deleted when it closes
			}
		}
		v.askQueue(ctx, q.pid, &queueStats{}, func(s *queueStatsReply) *mgmtResponse {
			return &mgmtResponse{status: status, body: v.queueInfo(q, s)}
		}, respond)
	case "DELETE":
		if bad := badName("queue", name); bad != nil {
			respond(bad)
			return
		}
		if denied := v.denied(r.user, permConfigure, "queue", name); denied != nil {
			respond(denied)
			return
		}
		if q == nil {
			respond(&mgmtResponse{status: 200, body: protocol.Map{{Key: "message_count", Value: uint64(0)}}})
			return
		}
		v.askQueue(ctx, q.pid, &queueStats{}, func(s *queueStatsReply) *mgmtResponse {
			v.deleteQueue(ctx, name, "deleted by management")
			return &mgmtResponse{status: 200, body: protocol.Map{{Key: "message_count", Value: uint64(s.messages)}}}
		}, respond)
	default:
		respond(mgmtErr(405, "method %s not allowed on a queue", r.method))
	}
}

// mgmtExchange declares or deletes an exchange. The default exchange is refused (403); an existing
// exchange, the predeclared amq.* included, is checked for equivalence (204 or 409), as RabbitMQ does;
// a new name starting with amq. is refused (403).
func (v *vhost) mgmtExchange(ctx actor.Context, r *mgmtRequest, name string) *mgmtResponse {
	switch r.method {
	case "PUT":
		kind, durable, autoDelete, internal := "direct", true, false, false
		var hasKind bool
		var args map[string]any
		if bad := mgmtFields(r.body, "exchange", map[string]func(any) bool{"type": stringField(&kind, &hasKind),
			"durable": boolField(&durable), "auto_delete": boolField(&autoDelete), "internal": boolField(&internal),
			"arguments": argsField(&args)}); bad != nil {
			return bad
		}
		if name == "" {
			return mgmtErr(403, "operation not permitted on the default exchange")
		}
		if denied := v.denied(r.user, permConfigure, "exchange", name); denied != nil {
			return denied
		}
		if x := v.exchanges[name]; x != nil {
			if x.kind != kind || x.durable != durable || x.autoDel != autoDelete || x.internal != internal {
				return mgmtErr(409, "exchange %q exists as type %s (durable=%t, auto_delete=%t, internal=%t)",
					name, x.kind, x.durable, x.autoDel, x.internal)
			}
			return &mgmtResponse{status: 204}
		}
		if bad := badName("exchange", name); bad != nil {
			return bad
		}
		if strings.HasPrefix(name, "amq.") {
			return mgmtErr(403, "exchange %q starts with reserved prefix 'amq.'", name)
		}
		if perr := v.declareExchange(ctx, name, kind, durable, autoDelete, internal, args); perr != nil {
			if perr.Condition == protocol.ErrPreconditionFailed {
				return mgmtErr(409, "%s", perr.Description)
			}
			return mgmtErr(400, "%s", perr.Description)
		}
		return &mgmtResponse{status: 204}
	case "DELETE":
		if bad := badName("exchange", name); bad != nil {
			return bad
		}
		if name == "" || strings.HasPrefix(name, "amq.") {
			return mgmtErr(403, "exchange %q is predeclared and cannot be deleted", name)
		}
		if denied := v.denied(r.user, permConfigure, "exchange", name); denied != nil {
			return denied
		}
		v.deleteExchange(ctx, name)
		return &mgmtResponse{status: 204}
	}
	return mgmtErr(405, "method %s not allowed on an exchange", r.method)
}

// deleteExchange removes an exchange and every binding from or to it. The actor stays a while as a
// tombstone that refuses publishes (links that still target it get amqp:not-found), then stops.
func (v *vhost) deleteExchange(ctx actor.Context, name string) {
	x := v.exchanges[name]
	if x == nil {
		return
	}
	delete(v.exchanges, name)
	v.deleteRecord(recExchange, name)
	kept := v.bindings[:0]
	for _, b := range v.bindings {
		if b.source == name {
			v.deleteRecord(recBinding, bindingRecordKey(b.source, b.b))
			continue
		}
		if b.b.Destination == (routing.Destination{Exchange: true, Name: name}) {
			if src := v.exchanges[b.source]; src != nil {
				ctx.Send(src.pid, &removeDestination{dest: b.b.Destination})
			}
			continue
		}
		kept = append(kept, b)
	}
	v.bindings = kept
	ctx.Send(x.pid, &exchangeDeleted{})
	if x.front != nil {
		// Its extensions stop now; producers attached to it see it terminate and are detached
		// (receiverLink.targetGone) rather than publishing into a stopped actor.
		ctx.Stop(x.front)
	}
}

// bindingChecks are RabbitMQ's binding_checks, made before a binding is added or removed (whether or
// not it exists): neither end may be the default exchange (403) or have a line break in its name (400);
// the user needs write on the destination and read on the source (403).
func (v *vhost) bindingChecks(user, src string, dest routing.Destination) *mgmtResponse {
	kind := "queue"
	if dest.Exchange {
		kind = "exchange"
	}
	if src == "" || (dest.Exchange && dest.Name == "") {
		return mgmtErr(403, "operation not permitted on the default exchange")
	}
	if bad := badName("exchange", src); bad != nil {
		return bad
	}
	if bad := badName(kind, dest.Name); bad != nil {
		return bad
	}
	if denied := v.denied(user, permWrite, kind, dest.Name); denied != nil {
		return denied
	}
	return v.denied(user, permRead, "exchange", src)
}

func (v *vhost) mgmtBind(ctx actor.Context, body any, user string) *mgmtResponse {
	if _, ok := body.(protocol.Map); !ok {
		return mgmtErr(400, "the body must be a map")
	}
	var src, key, dq, dx string
	var hasSrc, hasKey, hasDQ, hasDX bool
	var args map[string]any
	if bad := mgmtFields(body, "binding", map[string]func(any) bool{"source": stringField(&src, &hasSrc),
		"binding_key": stringField(&key, &hasKey), "destination_queue": stringField(&dq, &hasDQ),
		"destination_exchange": stringField(&dx, &hasDX), "arguments": argsField(&args)}); bad != nil {
		return bad
	}
	if !hasSrc {
		return mgmtErr(400, "source is required")
	}
	var dest routing.Destination
	switch {
	case hasDQ:
		dest = routing.Destination{Name: dq}
	case hasDX:
		dest = routing.Destination{Exchange: true, Name: dx}
	default:
		return mgmtErr(400, "destination_queue or destination_exchange is required")
	}
	if denied := v.bindingChecks(user, src, dest); denied != nil {
		return denied
	}
	if perr := v.bind(ctx, src, routing.Binding{Destination: dest, Key: key, Args: args}); perr != nil {
		if perr.Condition == protocol.ErrNotFound {
			return mgmtErr(404, "%s", perr.Description)
		}
		return mgmtErr(400, "%s", perr.Description)
	}
	return &mgmtResponse{status: 204}
}

func (v *vhost) mgmtListBindings(query string) *mgmtResponse {
	qv, err := url.ParseQuery(query)
	if err != nil {
		return mgmtErr(400, "bad query: %v", err)
	}
	var list []any
	for _, b := range v.bindings {
		if s := qv.Get("src"); qv.Has("src") && s != b.source {
			continue
		}
		if qv.Has("dstq") && (b.b.Destination.Exchange || qv.Get("dstq") != b.b.Destination.Name) {
			continue
		}
		if qv.Has("dste") && (!b.b.Destination.Exchange || qv.Get("dste") != b.b.Destination.Name) {
			continue
		}
		if qv.Has("key") && qv.Get("key") != b.b.Key {
			continue
		}
		list = append(list, v.bindingInfo(b))
	}
	if list == nil {
		list = []any{}
	}
	return &mgmtResponse{status: 200, body: list}
}

func (v *vhost) bindingInfo(b bindingInfo) protocol.Map {
	dtype := "queue"
	if b.b.Destination.Exchange {
		dtype = "exchange"
	}
	args := protocol.Map{}
	for k, a := range b.b.Args {
		args = append(args, protocol.MapEntry{Key: k, Value: a})
	}
	// RabbitMQ names the destination destination_queue or destination_exchange; destination and
	// destination_type are the HTTP API's names.
	return protocol.Map{
		{Key: "source", Value: b.source}, {Key: "vhost", Value: v.name},
		{Key: "destination_" + dtype, Value: b.b.Destination.Name},
		{Key: "destination", Value: b.b.Destination.Name}, {Key: "destination_type", Value: dtype},
		{Key: "binding_key", Value: b.b.Key}, {Key: "arguments", Value: args},
		{Key: "location", Value: bindingLocation(b)},
	}
}

// bindingLocation is the path that deletes a binding: /bindings/src=S;dstq=Q|dste=X;key=K;args=H, with
// H a hash of the arguments (empty for none), each part percent-encoded as RabbitMQ 4 does.
func bindingLocation(b bindingInfo) string {
	d := "dstq="
	if b.b.Destination.Exchange {
		d = "dste="
	}
	return "/bindings/src=" + url.PathEscape(b.source) + ";" + d + url.PathEscape(b.b.Destination.Name) +
		";key=" + url.PathEscape(b.b.Key) + ";args=" + argsHash(b.b.Args)
}

func argsHash(args map[string]any) string {
	if len(args) == 0 {
		return ""
	}
	j, err := json.Marshal(args) // map keys are sorted: a stable encoding
	if err != nil {
		j = []byte(fmt.Sprint(args))
	}
	sum := sha256.Sum256(j)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// mgmtUnbind deletes the binding at a location (src=S;dstq=Q|dste=X;key=K;args=H). It is idempotent,
// as RabbitMQ's: 204 whether or not the binding was there, once the location parses (400) and the
// binding checks pass (403).
func (v *vhost) mgmtUnbind(ctx actor.Context, spec string, user string) *mgmtResponse {
	parts := map[string]string{}
	for _, p := range strings.Split(spec, ";") {
		k, val, ok := strings.Cut(p, "=")
		if !ok {
			return mgmtErr(400, "binding path part %q is not key=value", p)
		}
		d, err := url.PathUnescape(val)
		if err != nil {
			return mgmtErr(400, "binding path part %q is not percent-encoded correctly", p)
		}
		if _, dup := parts[k]; dup {
			return mgmtErr(400, "binding path part %q appears twice", k)
		}
		parts[k] = d
	}
	_, hasQ := parts["dstq"]
	_, hasX := parts["dste"]
	_, hasKey := parts["key"]
	_, hasArgs := parts["args"]
	if _, hasSrc := parts["src"]; !hasSrc || hasQ == hasX || !hasKey || !hasArgs || len(parts) != 4 {
		return mgmtErr(400, "bad binding path segment %q: want src=S;dstq=Q (or dste=X);key=K;args=H", spec)
	}
	dest := routing.Destination{Name: parts["dstq"]}
	if hasX {
		dest = routing.Destination{Exchange: true, Name: parts["dste"]}
	}
	if denied := v.bindingChecks(user, parts["src"], dest); denied != nil {
		return denied
	}
	kept := v.bindings[:0]
	for _, b := range v.bindings {
		if b.source == parts["src"] && b.b.Destination == dest && b.b.Key == parts["key"] && argsHash(b.b.Args) == parts["args"] {
			if x := v.exchanges[b.source]; x != nil {
				ctx.Send(x.pid, &removeBinding{b: b.b})
			}
			v.deleteRecord(recBinding, bindingRecordKey(b.source, b.b))
			continue
		}
		kept = append(kept, b)
	}
	v.bindings = kept
	return &mgmtResponse{status: 204}
}

// mapArgs reads an arguments map (string or symbol keys) into Go form.
func mapArgs(m protocol.Map, key string) (map[string]any, error) {
	v, ok := m.Get(key)
	if !ok || v == nil {
		return nil, nil
	}
	am, ok := v.(protocol.Map)
	if !ok {
		return nil, fmt.Errorf("%s must be a map", key)
	}
	out := make(map[string]any, len(am))
	for _, e := range am {
		switch k := e.Key.(type) {
		case string:
			out[k] = e.Value
		case protocol.Symbol:
			out[string(k)] = e.Value
		default:
			return nil, fmt.Errorf("%s keys must be strings", key)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func sameArgs(a, b map[string]any) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}
