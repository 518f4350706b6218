package actors

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/warren-mq/warren/protocol"
)

// Queues and exchanges: list and show from snapshots; declare, delete and purge through the vhost's
// management operations (vhost_admin.go), whose statuses (201/200/204, 400, 403, 404, 409) carry over.

// mgmtCall runs one management operation on a vhost, with user's permissions.
func (b *Broker) mgmtCall(vhostPID *actor.PID, user, method, path string, body any) (*mgmtResponse, error) {
	res, err := b.system.Root.RequestFuture(vhostPID, &mgmtRequest{method: method, path: path, body: body, user: user}, apiAskTimeout).Result()
	if err != nil {
		return nil, apiErrorf(http.StatusServiceUnavailable, "the virtual host did not answer: %v", err)
	}
	r, ok := res.(*mgmtResponse)
	if !ok {
		return nil, apiErrorf(http.StatusInternalServerError, "unexpected management reply %T", res)
	}
	if r.status >= 300 {
		reason, isString := r.body.(string)
		if !isString {
			reason = fmt.Sprint(apiToJSON(r.body))
		}
		return r, &apiError{status: r.status, reason: reason}
	}
	return r, nil
}

// apiQueueJSON: depth (messages = ready + unacknowledged), consumers and message rates.
func apiQueueJSON(vhost string, q apiQueueView, c apiQueueCounts, rates apiRateView) map[string]any {
	return map[string]any{
		"name": q.name, "vhost": vhost, "type": "classic", "state": "running",
		"durable": q.durable, "auto_delete": q.autoDelete, "exclusive": q.exclusive, "arguments": apiArgs(q.args),
		"messages": c.ready + c.unacked, "messages_ready": c.ready, "messages_unacknowledged": c.unacked,
		"message_bytes_ready": c.readyBytes, "consumers": c.consumers,
		"message_stats": rates.queue(vhost, q.name),
	}
}

func apiExchangeJSON(vhost string, x apiExchangeView, rates apiRateView) map[string]any {
	return map[string]any{
		"name": x.name, "vhost": vhost, "type": x.kind, "durable": x.durable, "auto_delete": x.autoDelete,
		"internal": x.internal, "arguments": apiArgs(x.args), "message_stats": rates.exchange(vhost, x.name),
	}
}

// apiExchangeName maps the URL name of the default exchange, amq.default, to its real name "".
func apiExchangeName(name string) string {
	if name == "amq.default" {
		return ""
	}
	return name
}

func (b *Broker) apiQueues(r *http.Request, u *apiUser) (apiReply, error) {
	names, err := b.apiVhostsFor(r, u)
	if err != nil {
		return apiReply{}, err
	}
	views, err := b.vhostViews(names)
	if err != nil {
		return apiReply{}, err
	}
	out := []any{}
	rates := apiRatesOf(r)
	for _, v := range views {
		counts, ok := b.queueCounts(v.queues)
		for i, q := range v.queues {
			if ok[i] {
				out = append(out, apiQueueJSON(v.name, q, counts[i], rates))
			}
		}
	}
	return apiOK(out)
}

// apiQueueOf resolves {vhost}/{name} to an existing queue.
func (b *Broker) apiQueueOf(r *http.Request, u *apiUser) (*apiVhostView, apiQueueView, *actor.PID, error) {
	vname, vpid, err := b.apiVhostOf(r, u)
	if err != nil {
		return nil, apiQueueView{}, nil, err
	}
	v, err := b.vhostView(vname)
	if err != nil {
		return nil, apiQueueView{}, nil, err
	}
	q, ok := v.queue(r.PathValue("name"))
	if !ok {
		return nil, apiQueueView{}, nil, apiErrorf(http.StatusNotFound, "queue %q not found in virtual host %q", r.PathValue("name"), vname)
	}
	return v, q, vpid, nil
}

func (b *Broker) apiQueue(r *http.Request, u *apiUser) (apiReply, error) {
	v, q, _, err := b.apiQueueOf(r, u)
	if err != nil {
		return apiReply{}, err
	}
	counts, ok := b.queueCounts([]apiQueueView{q})
	if !ok[0] {
		return apiReply{}, apiErrorf(http.StatusNotFound, "queue %q was deleted", q.name)
	}
	return apiOK(apiQueueJSON(v.name, q, counts[0], apiRatesOf(r)))
}

// apiDeclareQueue: PUT /api/queues/{vhost}/{name} {"durable", "auto_delete", "arguments"} → 201 created,
// 204 already there with the same properties, 409 there with others.
func (b *Broker) apiDeclareQueue(r *http.Request, u *apiUser) (apiReply, error) {
	_, vpid, err := b.apiVhostOf(r, u)
	if err != nil {
		return apiReply{}, err
	}
	body, err := apiDecodeBody(r)
	if err != nil {
		return apiReply{}, err
	}
	req := protocol.Map{}
	for _, f := range []struct {
		key string
		def bool
	}{{"durable", true}, {"auto_delete", false}, {"exclusive", false}} {
		v, err := apiBool(body, f.key, f.def)
		if err != nil {
			return apiReply{}, err
		}
		req = append(req, protocol.MapEntry{Key: f.key, Value: v})
	}
	if ex, _ := body["exclusive"].(bool); ex {
		return apiReply{}, apiErrorf(http.StatusBadRequest, "an exclusive queue belongs to a connection: declare it over AMQP")
	}
	args, err := apiArgsFromBody(body)
	if err != nil {
		return apiReply{}, err
	}
	req = append(req, protocol.MapEntry{Key: "arguments", Value: args})
	res, err := b.mgmtCall(vpid, u.name, "PUT", "/queues/"+url.PathEscape(r.PathValue("name")), req)
	if err != nil {
		return apiReply{}, err
	}
	if res.status == http.StatusCreated {
		return apiReply{status: http.StatusCreated}, nil
	}
	return apiNoContent()
}

// apiDeleteQueue: DELETE /api/queues/{vhost}/{name}[?if-empty=true][&if-unused=true].
func (b *Broker) apiDeleteQueue(r *http.Request, u *apiUser) (apiReply, error) {
	_, q, vpid, err := b.apiQueueOf(r, u)
	if err != nil {
		return apiReply{}, err
	}
	ifEmpty, ifUnused := r.URL.Query().Get("if-empty") == "true", r.URL.Query().Get("if-unused") == "true"
	if ifEmpty || ifUnused {
		counts, ok := b.queueCounts([]apiQueueView{q})
		switch {
		case !ok[0]:
			return apiReply{}, apiErrorf(http.StatusNotFound, "queue %q was deleted", q.name)
		case ifEmpty && counts[0].ready+counts[0].unacked > 0:
			return apiReply{}, apiErrorf(http.StatusBadRequest, "queue %q is not empty (%d messages)", q.name, counts[0].ready+counts[0].unacked)
		case ifUnused && counts[0].consumers > 0:
			return apiReply{}, apiErrorf(http.StatusBadRequest, "queue %q is in use (%d consumers)", q.name, counts[0].consumers)
		}
	}
	if _, err := b.mgmtCall(vpid, u.name, "DELETE", "/queues/"+url.PathEscape(q.name), nil); err != nil {
		return apiReply{}, err
	}
	return apiNoContent()
}

// apiPurgeQueue: DELETE /api/queues/{vhost}/{name}/contents removes the ready messages (deliveries
// awaiting settlement stay with their consumers, as in RabbitMQ) and reports how many went.
func (b *Broker) apiPurgeQueue(r *http.Request, u *apiUser) (apiReply, error) {
	_, vpid, err := b.apiVhostOf(r, u)
	if err != nil {
		return apiReply{}, err
	}
	res, err := b.mgmtCall(vpid, u.name, "DELETE", "/queues/"+url.PathEscape(r.PathValue("name"))+"/messages", nil)
	if err != nil {
		return apiReply{}, err
	}
	m, _ := res.body.(protocol.Map)
	n, _ := m.Get("message_count")
	return apiOK(map[string]any{"message_count": apiToJSON(n)})
}

func (b *Broker) apiExchanges(r *http.Request, u *apiUser) (apiReply, error) {
	names, err := b.apiVhostsFor(r, u)
	if err != nil {
		return apiReply{}, err
	}
	views, err := b.vhostViews(names)
	if err != nil {
		return apiReply{}, err
	}
	out := []any{}
	rates := apiRatesOf(r)
	for _, v := range views {
		for _, x := range v.exchanges {
			out = append(out, apiExchangeJSON(v.name, x, rates))
		}
	}
	return apiOK(out)
}

func (b *Broker) apiExchange(r *http.Request, u *apiUser) (apiReply, error) {
	vname, _, err := b.apiVhostOf(r, u)
	if err != nil {
		return apiReply{}, err
	}
	v, err := b.vhostView(vname)
	if err != nil {
		return apiReply{}, err
	}
	x, ok := v.exchange(apiExchangeName(r.PathValue("name")))
	if !ok {
		return apiReply{}, apiErrorf(http.StatusNotFound, "exchange %q not found in virtual host %q", r.PathValue("name"), vname)
	}
	return apiOK(apiExchangeJSON(vname, x, apiRatesOf(r)))
}

// apiDeclareExchange: PUT /api/exchanges/{vhost}/{name} {"type", "durable", "auto_delete", "internal",
// "arguments"} → 201 created, 204 already there, 409 there with another type or durability.
func (b *Broker) apiDeclareExchange(r *http.Request, u *apiUser) (apiReply, error) {
	vname, vpid, err := b.apiVhostOf(r, u)
	if err != nil {
		return apiReply{}, err
	}
	body, err := apiDecodeBody(r)
	if err != nil {
		return apiReply{}, err
	}
	kind, err := apiString(body, "type", "")
	if err != nil {
		return apiReply{}, err
	}
	if kind == "" {
		return apiReply{}, apiErrorf(http.StatusBadRequest, "type is required (direct, fanout, topic or headers)")
	}
	req := protocol.Map{{Key: "type", Value: kind}}
	for _, f := range []struct {
		key string
		def bool
	}{{"durable", true}, {"auto_delete", false}, {"internal", false}} {
		v, err := apiBool(body, f.key, f.def)
		if err != nil {
			return apiReply{}, err
		}
		req = append(req, protocol.MapEntry{Key: f.key, Value: v})
	}
	args, err := apiArgsFromBody(body)
	if err != nil {
		return apiReply{}, err
	}
	req = append(req, protocol.MapEntry{Key: "arguments", Value: args})
	name := r.PathValue("name")
	v, err := b.vhostView(vname)
	if err != nil {
		return apiReply{}, err
	}
	_, existed := v.exchange(name)
	if _, err := b.mgmtCall(vpid, u.name, "PUT", "/exchanges/"+url.PathEscape(name), req); err != nil {
		return apiReply{}, err
	}
	if existed {
		return apiNoContent()
	}
	return apiReply{status: http.StatusCreated}, nil
}

// apiDeleteExchange: DELETE /api/exchanges/{vhost}/{name}[?if-unused=true]; the predeclared exchanges
// cannot be deleted (403).
func (b *Broker) apiDeleteExchange(r *http.Request, u *apiUser) (apiReply, error) {
	vname, vpid, err := b.apiVhostOf(r, u)
	if err != nil {
		return apiReply{}, err
	}
	name := apiExchangeName(r.PathValue("name"))
	if name == "" || strings.HasPrefix(name, "amq.") {
		return apiReply{}, apiErrorf(http.StatusForbidden, "exchange %q is predeclared and cannot be deleted", r.PathValue("name"))
	}
	v, err := b.vhostView(vname)
	if err != nil {
		return apiReply{}, err
	}
	if _, ok := v.exchange(name); !ok {
		return apiReply{}, apiErrorf(http.StatusNotFound, "exchange %q not found in virtual host %q", name, vname)
	}
	if r.URL.Query().Get("if-unused") == "true" {
		for _, bd := range v.bindings {
			if bd.source == name || (bd.dest.Exchange && bd.dest.Name == name) {
				return apiReply{}, apiErrorf(http.StatusBadRequest, "exchange %q is in use: it has bindings", name)
			}
		}
	}
	if _, err := b.mgmtCall(vpid, u.name, "DELETE", "/exchanges/"+url.PathEscape(name), nil); err != nil {
		return apiReply{}, err
	}
	return apiNoContent()
}
