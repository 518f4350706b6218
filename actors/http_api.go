package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// The HTTP management API (issue 9): JSON in the shape of RabbitMQ's management plugin, under /api/ on
// the --http-addr listener (loopback by default). Every request authenticates with HTTP basic auth as a
// broker user tagged administrator or management (http_api_auth.go). Declarations, deletions, bindings
// and purges go through the vhost's management operations (vhost_admin.go), the same ones RabbitMQ 4's
// /management AMQP node uses; reads take snapshots of actor state with *inspect
// (admin_inspect.go); message rates come from the broker's counters (http_api_rates.go). RabbitMQ's
// channels are AMQP 1.0 sessions (/api/channels). Errors are JSON: {"error": "not_found", "reason":
// "queue \"q\" not found"}.

// apiAskTimeout bounds every request an HTTP handler makes to an actor.
const apiAskTimeout = 5 * time.Second

// apiMaxBody bounds a request body (definitions files and debug publishes are the large ones).
const apiMaxBody = 16 << 20

// apiReply is a successful answer: a status, an optional JSON body and an optional Location header.
type apiReply struct {
	status   int
	body     any // encoded as JSON; nil = no body
	location string
}

func apiOK(body any) (apiReply, error) { return apiReply{status: http.StatusOK, body: body}, nil }

func apiNoContent() (apiReply, error) { return apiReply{status: http.StatusNoContent}, nil }

// apiError is a failed answer: the HTTP status and a reason for humans.
type apiError struct {
	status int
	reason string
}

func (e *apiError) Error() string { return e.reason }

func apiErrorf(status int, format string, a ...any) error {
	return &apiError{status: status, reason: fmt.Sprintf(format, a...)}
}

// apiErrorNames are the "error" values of the JSON error body, by status.
var apiErrorNames = map[int]string{
	http.StatusBadRequest:            "bad_request",
	http.StatusUnauthorized:          "not_authorized",
	http.StatusForbidden:             "access_refused",
	http.StatusNotFound:              "not_found",
	http.StatusMethodNotAllowed:      "method_not_allowed",
	http.StatusConflict:              "conflict",
	http.StatusRequestEntityTooLarge: "payload_too_large",
	http.StatusUnsupportedMediaType:  "unsupported_media_type",
	http.StatusTooManyRequests:       "too_many_requests",
	http.StatusInternalServerError:   "internal_error",
	http.StatusServiceUnavailable:    "unavailable",
	http.StatusGatewayTimeout:        "timeout",
}

// apiHandler serves one route for an authenticated, authorised user.
type apiHandler func(r *http.Request, u *apiUser) (apiReply, error)

// apiRouter holds the routes and matches them on the escaped path, segment by segment, decoding
// each wildcard segment after matching. (http.ServeMux cannot serve this API: its wildcards refuse a
// segment that decodes to "/", which is exactly the default vhost, "%2F".) Unknown paths get 404 and
// known paths with another method 405, both as JSON.
type apiRouter struct {
	b      *Broker
	routes []apiRoute
	logins *apiLoginCache
	rates  *apiRates // message rates (http_api_rates.go), passed to handlers in the request context
}

type apiRoute struct {
	method  string
	pattern string   // as registered, e.g. "/api/queues/{vhost}/{name}"
	segs    []string // the pattern's segments; "{name}" is a wildcard
	h       apiHandler
}

// registerManagementAPI mounts the HTTP management API on the broker's HTTP listener.
func (b *Broker) registerManagementAPI(mux *http.ServeMux) {
	rt := &apiRouter{b: b, logins: newAPILoginCache(), rates: b.startRates()}
	rt.register()
	mux.Handle("/api/", rt)
}

func (rt *apiRouter) register() {
	b := rt.b
	rt.handle("GET /api/overview", b.apiOverview)
	rt.handle("GET /api/whoami", b.apiWhoami)
	rt.handle("GET /api/health/checks/alarms", b.apiHealthAlarms)
	rt.handle("GET /api/vhosts", b.apiVhosts)
	rt.handle("GET /api/vhosts/{vhost}", b.apiVhost)
	rt.handle("GET /api/users", adminOnly(b.apiUsers))
	rt.handle("GET /api/users/{user}", adminOnly(b.apiUser))
	rt.handle("GET /api/permissions", adminOnly(b.apiPermissions))
	rt.handle("GET /api/definitions", adminOnly(b.apiExportDefinitions))
	rt.handle("POST /api/definitions", adminOnly(b.apiImportDefinitions))

	rt.handle("GET /api/connections", b.apiConnections)
	rt.handle("GET /api/connections/{name}", b.apiConnection)
	rt.handle("DELETE /api/connections/{name}", b.apiCloseConnection)
	rt.handle("GET /api/connections/{name}/sessions", b.apiSessions)
	// RabbitMQ's channels are AMQP 1.0 sessions.
	rt.handle("GET /api/connections/{name}/channels", b.apiSessions)
	rt.handle("GET /api/channels", b.apiChannels)
	rt.handle("GET /api/vhosts/{vhost}/channels", b.apiChannels)
	rt.handle("GET /api/consumers", b.apiConsumers)
	rt.handle("GET /api/consumers/{vhost}", b.apiConsumers)

	rt.handle("GET /api/exchanges", b.apiExchanges)
	rt.handle("GET /api/exchanges/{vhost}", b.apiExchanges)
	rt.handle("GET /api/exchanges/{vhost}/{name}", b.apiExchange)
	rt.handle("PUT /api/exchanges/{vhost}/{name}", b.apiDeclareExchange)
	rt.handle("DELETE /api/exchanges/{vhost}/{name}", b.apiDeleteExchange)
	rt.handle("POST /api/exchanges/{vhost}/{name}/publish", b.apiPublish)
	rt.handle("GET /api/exchanges/{vhost}/{name}/bindings/source", b.apiExchangeBindings(true))
	rt.handle("GET /api/exchanges/{vhost}/{name}/bindings/destination", b.apiExchangeBindings(false))

	rt.handle("GET /api/queues", b.apiQueues)
	rt.handle("GET /api/queues/{vhost}", b.apiQueues)
	rt.handle("GET /api/queues/{vhost}/{name}", b.apiQueue)
	rt.handle("PUT /api/queues/{vhost}/{name}", b.apiDeclareQueue)
	rt.handle("DELETE /api/queues/{vhost}/{name}", b.apiDeleteQueue)
	rt.handle("DELETE /api/queues/{vhost}/{name}/contents", b.apiPurgeQueue)
	rt.handle("POST /api/queues/{vhost}/{name}/get", b.apiGet)
	rt.handle("GET /api/queues/{vhost}/{name}/bindings", b.apiQueueBindings)

	rt.handle("GET /api/bindings", b.apiBindings)
	rt.handle("GET /api/bindings/{vhost}", b.apiBindings)
	rt.handle("GET /api/bindings/{vhost}/e/{src}/{dtype}/{dst}", b.apiBindingsBetween)
	rt.handle("POST /api/bindings/{vhost}/e/{src}/{dtype}/{dst}", b.apiBind)
	rt.handle("GET /api/bindings/{vhost}/e/{src}/{dtype}/{dst}/{props}", b.apiBinding)
	rt.handle("DELETE /api/bindings/{vhost}/e/{src}/{dtype}/{dst}/{props}", b.apiUnbind)
}

func (rt *apiRouter) handle(pattern string, h apiHandler) {
	method, path, _ := strings.Cut(pattern, " ")
	rt.routes = append(rt.routes, apiRoute{method: method, pattern: path, segs: strings.Split(path[1:], "/"), h: h})
}

// match fills the wildcards of route from the escaped path's segments.
func (route *apiRoute) match(segs []string) (map[string]string, bool) {
	if len(segs) != len(route.segs) {
		return nil, false
	}
	var values map[string]string
	for i, p := range route.segs {
		if !strings.HasPrefix(p, "{") {
			if segs[i] != p {
				return nil, false
			}
			continue
		}
		v, err := url.PathUnescape(segs[i])
		if err != nil || segs[i] == "" {
			return nil, false
		}
		if values == nil {
			values = map[string]string{}
		}
		values[p[1:len(p)-1]] = v
	}
	return values, true
}

// ServeHTTP authenticates before telling whether a path exists (as RabbitMQ: an anonymous client
// learns nothing), then routes.
func (rt *apiRouter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u, err := rt.authenticate(r)
	if err != nil {
		apiWriteError(w, err)
		return
	}
	escaped := r.URL.EscapedPath()
	if len(escaped) > 1 {
		escaped = strings.TrimSuffix(escaped, "/")
	}
	segs := strings.Split(strings.TrimPrefix(escaped, "/"), "/")
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	var allowed []string
	for i := range rt.routes {
		route := &rt.routes[i]
		values, ok := route.match(segs)
		if !ok {
			continue
		}
		if route.method != method {
			if !slices.Contains(allowed, route.method) {
				allowed = append(allowed, route.method)
			}
			continue
		}
		r.Pattern = route.method + " " + route.pattern
		for k, v := range values {
			r.SetPathValue(k, v)
		}
		r.Body = http.MaxBytesReader(w, r.Body, apiMaxBody)
		r = r.WithContext(context.WithValue(r.Context(), apiRatesKey{}, rt.rates))
		reply, err := route.h(r, u)
		if err != nil {
			apiWriteError(w, err)
			return
		}
		apiWriteReply(w, reply)
		return
	}
	if len(allowed) == 0 {
		apiWriteError(w, apiErrorf(http.StatusNotFound, "no such API endpoint: %s", r.URL.Path))
		return
	}
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	apiWriteError(w, apiErrorf(http.StatusMethodNotAllowed, "%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allowed, ", ")))
}

func apiWriteReply(w http.ResponseWriter, reply apiReply) {
	if reply.location != "" {
		w.Header().Set("Location", reply.location)
	}
	if reply.body == nil {
		w.WriteHeader(reply.status)
		return
	}
	data, isRaw := reply.body.(json.RawMessage) // already encoded (a definitions file, indented)
	var err error
	if !isRaw {
		data, err = json.Marshal(reply.body)
	}
	if err != nil {
		apiWriteError(w, apiErrorf(http.StatusInternalServerError, "encoding the reply: %v", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(reply.status)
	if !isRaw {
		data = append(data, '\n')
	}
	_, _ = w.Write(data)
}

func apiWriteError(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = &apiError{status: http.StatusInternalServerError, reason: err.Error()}
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		ae = &apiError{status: http.StatusRequestEntityTooLarge, reason: fmt.Sprintf("the request body exceeds %d bytes", tooLarge.Limit)}
	}
	name := apiErrorNames[ae.status]
	if name == "" {
		name = strings.ToLower(strings.ReplaceAll(http.StatusText(ae.status), " ", "_"))
	}
	if ae.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="Warren Management"`)
	}
	data, _ := json.Marshal(map[string]string{"error": name, "reason": ae.reason})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(ae.status)
	_, _ = w.Write(append(data, '\n'))
}

// apiDecodeBody decodes a JSON object body into a map, numbers kept as json.Number (apiFromJSON turns
// them into AMQP longs or doubles). An empty body is an empty object.
func apiDecodeBody(r *http.Request) (map[string]any, error) {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, err
		}
		return nil, apiErrorf(http.StatusBadRequest, "reading the body: %v", err)
	}
	if strings.TrimSpace(string(data)) == "" {
		return map[string]any{}, nil
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, apiErrorf(http.StatusBadRequest, "the body must be a JSON object")
	}
	if dec.More() {
		return nil, apiErrorf(http.StatusBadRequest, "the body must hold a single JSON object")
	}
	return m, nil
}

// apiVhostOf resolves the {vhost} path segment (percent-encoded: "%2F" is "/") for user u.
func (b *Broker) apiVhostOf(r *http.Request, u *apiUser) (string, *actor.PID, error) {
	name := r.PathValue("vhost")
	pid := b.vhosts[name]
	if pid == nil {
		return "", nil, apiErrorf(http.StatusNotFound, "virtual host %q not found", name)
	}
	if !u.canAccess(name) {
		return "", nil, apiErrorf(http.StatusForbidden, "user %q has no access to virtual host %q", u.name, name)
	}
	return name, pid, nil
}

// apiVhostsFor lists the vhosts a request covers: the {vhost} segment when the route has one, else
// every vhost u may see, sorted.
func (b *Broker) apiVhostsFor(r *http.Request, u *apiUser) ([]string, error) {
	if strings.Contains(r.Pattern, "{vhost}") {
		name, _, err := b.apiVhostOf(r, u)
		if err != nil {
			return nil, err
		}
		return []string{name}, nil
	}
	var names []string
	for name := range b.vhosts {
		if u.canAccess(name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names, nil
}
