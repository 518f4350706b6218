package actors

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/warren-mq/warren/actors/routing"
	"github.com/warren-mq/warren/protocol"
)

// Management operations of a vhost, in the shape of RabbitMQ 4's HTTP-over-AMQP management node: a
// method, a path and an AMQP-value body in; a status code and an AMQP-value body out. The /management
// link pair (management.go) and, later, the HTTP API call these.

type mgmtRequest struct {
	method string
	path   string
	body   any
	user   string // whose permissions apply (RabbitMQ's: configure to declare/delete, write/read to bind)
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
// queue for its counts).
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
	deny := func(kind permKind, resKind, name string) bool {
		if err := v.b.auth.allowed(r.user, v.name, kind, resKind, name); err != nil {
			respond(mgmtErr(403, "%s", err.Description))
			return true
		}
		return false
	}
	switch {
	case len(segs) == 2 && segs[0] == "queues":
		if r.method != "GET" && deny(permConfigure, "queue", segs[1]) {
			return
		}
		v.mgmtQueue(ctx, r.method, segs[1], r.body, respond)
	case len(segs) == 3 && segs[0] == "queues" && segs[2] == "messages" && r.method == "DELETE":
		if deny(permRead, "queue", segs[1]) {
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
		if deny(permConfigure, "exchange", segs[1]) {
			return
		}
		respond(v.mgmtExchange(ctx, r.method, segs[1], r.body))
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

func (v *vhost) queueInfo(q *queueInfo, s *queueStatsReply) protocol.Map {
	args := protocol.Map{}
	for k, a := range q.spec.args {
		args = append(args, protocol.MapEntry{Key: k, Value: a})
	}
	return protocol.Map{
		{Key: "name", Value: q.spec.name}, {Key: "vhost", Value: v.name},
		{Key: "durable", Value: q.spec.durable}, {Key: "auto_delete", Value: q.spec.autoDelete},
		{Key: "exclusive", Value: q.spec.exclusive}, {Key: "type", Value: "classic"},
		{Key: "arguments", Value: args},
		{Key: "message_count", Value: uint64(s.messages)}, {Key: "consumer_count", Value: uint32(s.consumers)},
	}
}

func (v *vhost) mgmtQueue(ctx actor.Context, method, name string, body any, respond func(*mgmtResponse)) {
	q := v.queues[name]
	switch method {
	case "GET":
		if q == nil {
			respond(mgmtErr(404, "queue %q not found", name))
			return
		}
		v.askQueue(ctx, q.pid, &queueStats{}, func(s *queueStatsReply) *mgmtResponse {
			return &mgmtResponse{status: 200, body: v.queueInfo(q, s)}
		}, respond)
	case "PUT":
		if strings.HasPrefix(name, "amq.") {
			respond(mgmtErr(403, "queue names starting with amq. are reserved"))
			return
		}
		m, ok := body.(protocol.Map)
		if body != nil && !ok {
			respond(mgmtErr(400, "the body must be a map"))
			return
		}
		args, err := mapArgs(m, "arguments")
		if err != nil {
			respond(mgmtErr(400, "%v", err))
			return
		}
		spec, perr := queueSpecFrom(name, mapBool(m, "durable", true), mapBool(m, "auto_delete", false), mapBool(m, "exclusive", false), args)
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
		} else if q, perr = v.declareQueue(ctx, spec); perr != nil {
			respond(mgmtErr(409, "%s", perr.Description))
			return
		}
		v.askQueue(ctx, q.pid, &queueStats{}, func(s *queueStatsReply) *mgmtResponse {
			return &mgmtResponse{status: status, body: v.queueInfo(q, s)}
		}, respond)
	case "DELETE":
		if q == nil {
			respond(&mgmtResponse{status: 200, body: protocol.Map{{Key: "message_count", Value: uint64(0)}}})
			return
		}
		v.askQueue(ctx, q.pid, &queueStats{}, func(s *queueStatsReply) *mgmtResponse {
			v.deleteQueue(ctx, name, "deleted by management")
			return &mgmtResponse{status: 200, body: protocol.Map{{Key: "message_count", Value: uint64(s.messages)}}}
		}, respond)
	default:
		respond(mgmtErr(405, "method %s not allowed on a queue", method))
	}
}

func (v *vhost) mgmtExchange(ctx actor.Context, method, name string, body any) *mgmtResponse {
	if name == "" || strings.HasPrefix(name, "amq.") {
		return mgmtErr(403, "exchange %q is predeclared and cannot be declared or deleted", name)
	}
	switch method {
	case "PUT":
		m, ok := body.(protocol.Map)
		if body != nil && !ok {
			return mgmtErr(400, "the body must be a map")
		}
		kind := "direct"
		if t, ok := m.Get("type"); ok {
			if kind, ok = t.(string); !ok {
				return mgmtErr(400, "type must be a string")
			}
		}
		args, err := mapArgs(m, "arguments")
		if err != nil {
			return mgmtErr(400, "%v", err)
		}
		if perr := v.declareExchange(ctx, name, kind, mapBool(m, "durable", true), mapBool(m, "auto_delete", false), mapBool(m, "internal", false), args); perr != nil {
			if perr.Condition == protocol.ErrNotImplemented {
				return mgmtErr(400, "%s", perr.Description)
			}
			return mgmtErr(409, "%s", perr.Description)
		}
		return &mgmtResponse{status: 204}
	case "DELETE":
		v.deleteExchange(ctx, name)
		return &mgmtResponse{status: 204}
	}
	return mgmtErr(405, "method %s not allowed on an exchange", method)
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
		ctx.Stop(x.front)
	}
}

// bindAllowed: binding needs write on the destination and read on the source (RabbitMQ).
func (v *vhost) bindAllowed(user, src string, dest routing.Destination) *mgmtResponse {
	kind := "queue"
	if dest.Exchange {
		kind = "exchange"
	}
	if err := v.b.auth.allowed(user, v.name, permWrite, kind, dest.Name); err != nil {
		return mgmtErr(403, "%s", err.Description)
	}
	if err := v.b.auth.allowed(user, v.name, permRead, "exchange", src); err != nil {
		return mgmtErr(403, "%s", err.Description)
	}
	return nil
}

func (v *vhost) mgmtBind(ctx actor.Context, body any, user string) *mgmtResponse {
	m, ok := body.(protocol.Map)
	if !ok {
		return mgmtErr(400, "the body must be a map")
	}
	src, _ := mapString(m, "source")
	key, _ := mapString(m, "binding_key")
	args, err := mapArgs(m, "arguments")
	if err != nil {
		return mgmtErr(400, "%v", err)
	}
	var dest routing.Destination
	if q, ok := mapString(m, "destination_queue"); ok {
		dest = routing.Destination{Name: q}
	} else if x, ok := mapString(m, "destination_exchange"); ok {
		dest = routing.Destination{Exchange: true, Name: x}
	} else {
		return mgmtErr(400, "destination_queue or destination_exchange is required")
	}
	if src == "" {
		return mgmtErr(403, "the default exchange cannot be bound to explicitly")
	}
	if denied := v.bindAllowed(user, src, dest); denied != nil {
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
	return protocol.Map{
		{Key: "source", Value: b.source}, {Key: "vhost", Value: v.name},
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
		parts[k] = d
	}
	matches := func(b bindingInfo) bool {
		return b.source == parts["src"] && b.b.Key == parts["key"] && argsHash(b.b.Args) == parts["args"] &&
			((!b.b.Destination.Exchange && b.b.Destination.Name == parts["dstq"] && parts["dstq"] != "") ||
				(b.b.Destination.Exchange && b.b.Destination.Name == parts["dste"] && parts["dste"] != ""))
	}
	for _, b := range v.bindings { // permissions first: nothing changes when one is missing
		if matches(b) {
			if denied := v.bindAllowed(user, b.source, b.b.Destination); denied != nil {
				return denied
			}
		}
	}
	kept := v.bindings[:0]
	for _, b := range v.bindings {
		if matches(b) {
			if x := v.exchanges[b.source]; x != nil {
				ctx.Send(x.pid, &removeBinding{b: b.b})
			}
			v.deleteRecord(recBinding, bindingRecordKey(b.source, b.b))
			continue
		}
		kept = append(kept, b)
	}
	v.bindings = kept
	return &mgmtResponse{status: 204} // idempotent, as RabbitMQ
}

func mapBool(m protocol.Map, key string, def bool) bool {
	if v, ok := m.Get(key); ok {
		if b, ok := v.(bool); ok {
			return b
		}
	}
	return def
}

func mapString(m protocol.Map, key string) (string, bool) {
	v, ok := m.Get(key)
	if !ok {
		return "", false
	}
	s, ok := v.(string)
	return s, ok
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
