package actors

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHTTPAPIAuthentication(t *testing.T) {
	_, c := startAPIBroker(t, true)

	// No credentials, wrong ones, an unknown user: 401 with a basic-auth challenge.
	for _, cl := range []*apiTestClient{c.as("", ""), c.as("guest", "wrong"), c.as("nobody", "x")} {
		e := cl.expectError("GET", "/api/overview", nil, http.StatusUnauthorized, "not_authorized")
		assert.NotEmpty(t, e["reason"])
		resp, _ := cl.do("GET", "/api/overview", nil)
		assert.Contains(t, resp.Header.Get("WWW-Authenticate"), "Basic")
	}
	// Even a path that does not exist asks for credentials first.
	c.as("", "").expectError("GET", "/api/nope", nil, http.StatusUnauthorized, "not_authorized")

	// A valid user without a management tag: 403.
	var e map[string]string
	e = c.as("app", "apass").expectError("GET", "/api/overview", nil, http.StatusForbidden, "access_refused")
	assert.Contains(t, e["reason"], "administrator or management")

	// guest (not listed in the definitions) is an administrator, as in RabbitMQ; so is admin.
	for _, cl := range []*apiTestClient{c, c.as("admin", "secret")} {
		var who map[string]any
		require.Equal(t, http.StatusOK, cl.call("GET", "/api/whoami", nil, &who))
		assert.Equal(t, []any{"administrator"}, who["tags"])
		require.Equal(t, http.StatusOK, cl.call("GET", "/api/users", nil, nil))
	}

	// management: its vhosts only, and no users, permissions or definitions.
	mgr := c.as("mgr", "mpass")
	var vhosts []map[string]any
	require.Equal(t, http.StatusOK, mgr.call("GET", "/api/vhosts", nil, &vhosts))
	require.Len(t, vhosts, 1)
	assert.Equal(t, "/", vhosts[0]["name"])
	require.Equal(t, http.StatusOK, mgr.call("GET", "/api/queues/%2F", nil, nil))
	mgr.expectError("GET", "/api/queues/other", nil, http.StatusForbidden, "access_refused")
	mgr.expectError("PUT", "/api/queues/other/q", map[string]any{}, http.StatusForbidden, "access_refused")
	// What it may change is up to its permissions: configure on mgr-* only.
	require.Equal(t, http.StatusCreated, mgr.call("PUT", "/api/queues/%2F/mgr-q", nil, nil))
	e = mgr.expectError("PUT", "/api/queues/%2F/q", nil, http.StatusForbidden, "access_refused")
	assert.Contains(t, e["reason"], "configure access")
	// guest is an administrator but has permissions on "/" only (as RabbitMQ creates it).
	c.expectError("PUT", "/api/queues/other/q", nil, http.StatusForbidden, "access_refused")
	require.Equal(t, http.StatusCreated, c.as("admin", "secret").call("PUT", "/api/queues/other/q", nil, nil))
	for _, p := range []string{"/api/users", "/api/users/guest", "/api/permissions", "/api/definitions"} {
		mgr.expectError("GET", p, nil, http.StatusForbidden, "access_refused")
	}
	mgr.expectError("POST", "/api/definitions", "{}", http.StatusForbidden, "access_refused")
	// monitoring counts as management (RabbitMQ: management plus more); without permissions it sees no vhost.
	require.Equal(t, http.StatusOK, c.as("mon", "mon").call("GET", "/api/vhosts", nil, &vhosts))
	assert.Empty(t, vhosts)

	// Unknown paths and wrong methods, as JSON.
	c.expectError("GET", "/api/nope", nil, http.StatusNotFound, "not_found")
	resp, _ := c.do("PATCH", "/api/queues", nil)
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.Equal(t, "GET", resp.Header.Get("Allow"))
	c.expectError("POST", "/api/overview", nil, http.StatusMethodNotAllowed, "method_not_allowed")
	c.expectError("GET", "/api/queues/nohost", nil, http.StatusNotFound, "not_found")
}

func TestHTTPAPIFailedLoginLimit(t *testing.T) {
	b := startBroker(t, func(o *Options) { o.HTTPAddr = "127.0.0.1:0"; o.Auth.FailedLoginLimit = 2 })
	c := &apiTestClient{t: t, base: "http://" + b.HTTPAddr().String(), user: "guest", pass: "guest"}
	bad := c.as("guest", "nope")
	bad.expectError("GET", "/api/overview", nil, http.StatusUnauthorized, "not_authorized")
	bad.expectError("GET", "/api/overview", nil, http.StatusUnauthorized, "not_authorized")
	// Past the limit even the right password waits (the AMQP logins share the limiter).
	c.expectError("GET", "/api/overview", nil, http.StatusTooManyRequests, "too_many_requests")
	_, err := amqp.Dial(testCtx(t), "amqp://guest:guest@"+b.Addr().String(), nil)
	require.Error(t, err)
}

func TestHTTPAPIQueues(t *testing.T) {
	b, c := startAPIBroker(t, false)

	// Declare: 201, again 204, other properties 409, bad arguments 400, reserved name 403.
	require.Equal(t, http.StatusCreated, c.call("PUT", "/api/queues/%2F/orders", map[string]any{"durable": true, "arguments": map[string]any{"x-max-length": 10}}, nil))
	require.Equal(t, http.StatusNoContent, c.call("PUT", "/api/queues/%2F/orders", map[string]any{"durable": true, "arguments": map[string]any{"x-max-length": 10}}, nil))
	c.expectError("PUT", "/api/queues/%2F/orders", map[string]any{"durable": false}, http.StatusConflict, "conflict")
	c.expectError("PUT", "/api/queues/%2F/bad", map[string]any{"arguments": map[string]any{"x-max-length": "ten"}}, http.StatusBadRequest, "bad_request")
	c.expectError("PUT", "/api/queues/%2F/bad", map[string]any{"durable": "yes"}, http.StatusBadRequest, "bad_request")
	c.expectError("PUT", "/api/queues/%2F/bad", map[string]any{"exclusive": true}, http.StatusBadRequest, "bad_request")
	c.expectError("PUT", "/api/queues/%2F/bad", "[1, 2]", http.StatusBadRequest, "bad_request")
	c.expectError("PUT", "/api/queues/%2F/bad", "{", http.StatusBadRequest, "bad_request")
	c.expectError("PUT", "/api/queues/%2F/amq.mine", nil, http.StatusForbidden, "access_refused")
	require.Equal(t, http.StatusCreated, c.call("PUT", "/api/queues/%2F/"+url.PathEscape("a/b c"), nil, nil), "names are percent-encoded")

	// Three messages; a consumer holds one unsettled.
	s := newSess(t, dial(t, b, nil))
	snd := sender(t, s, "/queues/orders", nil)
	for _, body := range []string{"m1", "m2", "m3"} {
		send(t, snd, body)
	}
	rcv := receiver(t, s, "/queues/orders", &amqp.ReceiverOptions{Credit: 1})
	held := recv(t, rcv)
	require.Equal(t, "m1", string(held.GetData()))

	var q map[string]any
	require.Eventually(t, func() bool {
		c.call("GET", "/api/queues/%2F/orders", nil, &q)
		return q["messages_unacknowledged"] == float64(1)
	}, 5e9, 1e7)
	assert.Equal(t, "orders", q["name"])
	assert.Equal(t, "/", q["vhost"])
	assert.Equal(t, true, q["durable"])
	assert.Equal(t, float64(3), q["messages"])
	assert.Equal(t, float64(2), q["messages_ready"])
	assert.Equal(t, float64(1), q["consumers"])
	assert.Equal(t, map[string]any{"x-max-length": float64(10)}, q["arguments"])
	assert.Greater(t, q["message_bytes_ready"], float64(0))

	var list []map[string]any
	require.Equal(t, http.StatusOK, c.call("GET", "/api/queues", nil, &list))
	require.NotNil(t, apiFind(list, "name", "orders"))
	require.NotNil(t, apiFind(list, "name", "a/b c"))
	require.Equal(t, http.StatusOK, c.call("GET", "/api/queues/%2F", nil, &list))
	require.Len(t, list, 2)
	c.expectError("GET", "/api/queues/%2F/nope", nil, http.StatusNotFound, "not_found")

	// if-empty refuses; purge takes the ready ones (the unsettled one stays with its consumer).
	c.expectError("DELETE", "/api/queues/%2F/orders?if-empty=true", nil, http.StatusBadRequest, "bad_request")
	c.expectError("DELETE", "/api/queues/%2F/orders?if-unused=true", nil, http.StatusBadRequest, "bad_request")
	var purged map[string]any
	require.Equal(t, http.StatusOK, c.call("DELETE", "/api/queues/%2F/orders/contents", nil, &purged))
	assert.Equal(t, float64(2), purged["message_count"])
	c.expectError("DELETE", "/api/queues/%2F/nope/contents", nil, http.StatusNotFound, "not_found")
	require.NoError(t, rcv.AcceptMessage(testCtx(t), held))

	// Delete: 204, then 404; the consumer's link is detached.
	require.Equal(t, http.StatusNoContent, c.call("DELETE", "/api/queues/%2F/orders", nil, nil))
	c.expectError("DELETE", "/api/queues/%2F/orders", nil, http.StatusNotFound, "not_found")
	c.expectError("GET", "/api/queues/%2F/orders", nil, http.StatusNotFound, "not_found")
	_, err := rcv.Receive(testCtx(t), nil)
	require.Error(t, err)
}

func TestHTTPAPIExchangesAndBindings(t *testing.T) {
	b, c := startAPIBroker(t, false)
	require.Equal(t, http.StatusCreated, c.call("PUT", "/api/queues/%2F/q1", nil, nil))
	require.Equal(t, http.StatusCreated, c.call("PUT", "/api/queues/%2F/q2", nil, nil))

	// Exchanges: the predeclared ones and the default exchange are listed.
	var xs []map[string]any
	require.Equal(t, http.StatusOK, c.call("GET", "/api/exchanges/%2F", nil, &xs))
	for _, name := range []string{"", "amq.direct", "amq.topic", "amq.fanout", "amq.headers", "amq.match"} {
		assert.NotNil(t, apiFind(xs, "name", name), name)
	}
	require.Equal(t, http.StatusCreated, c.call("PUT", "/api/exchanges/%2F/events", map[string]any{"type": "topic", "durable": true}, nil))
	require.Equal(t, http.StatusNoContent, c.call("PUT", "/api/exchanges/%2F/events", map[string]any{"type": "topic", "durable": true}, nil))
	c.expectError("PUT", "/api/exchanges/%2F/events", map[string]any{"type": "fanout"}, http.StatusConflict, "conflict")
	c.expectError("PUT", "/api/exchanges/%2F/x", map[string]any{}, http.StatusBadRequest, "bad_request")
	c.expectError("PUT", "/api/exchanges/%2F/x", map[string]any{"type": "x-nonexistent"}, http.StatusBadRequest, "bad_request")
	c.expectError("PUT", "/api/exchanges/%2F/amq.new", map[string]any{"type": "direct"}, http.StatusForbidden, "access_refused")
	c.expectError("DELETE", "/api/exchanges/%2F/amq.direct", nil, http.StatusForbidden, "access_refused")
	c.expectError("DELETE", "/api/exchanges/%2F/amq.default", nil, http.StatusForbidden, "access_refused")
	require.Equal(t, http.StatusCreated, c.call("PUT", "/api/exchanges/%2F/fan", map[string]any{"type": "fanout", "internal": false}, nil))
	var x map[string]any
	require.Equal(t, http.StatusOK, c.call("GET", "/api/exchanges/%2F/events", nil, &x))
	assert.Equal(t, "topic", x["type"])
	assert.Equal(t, true, x["durable"])
	require.Equal(t, http.StatusOK, c.call("GET", "/api/exchanges/%2F/amq.default", nil, &x))
	assert.Equal(t, "", x["name"])
	c.expectError("GET", "/api/exchanges/%2F/nope", nil, http.StatusNotFound, "not_found")
	require.Equal(t, http.StatusOK, c.call("GET", "/api/exchanges", nil, &xs))
	assert.NotNil(t, apiFind(xs, "name", "events"))

	// Bindings: exchange → queue and exchange → exchange, with their Location.
	resp, body := c.do("POST", "/api/bindings/%2F/e/events/q/q1", map[string]any{"routing_key": "order.*"})
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", body)
	assert.Equal(t, "/api/bindings/%2F/e/events/q/q1/order.%2A", resp.Header.Get("Location"))
	require.Equal(t, http.StatusCreated, c.call("POST", "/api/bindings/%2F/e/events/e/fan", map[string]any{"routing_key": "#"}, nil))
	require.Equal(t, http.StatusCreated, c.call("POST", "/api/bindings/%2F/e/fan/q/q2", map[string]any{}, nil))
	require.Equal(t, http.StatusCreated, c.call("POST", "/api/bindings/%2F/e/amq.headers/q/q2",
		map[string]any{"arguments": map[string]any{"x-match": "all", "kind": "a"}}, nil))
	c.expectError("POST", "/api/bindings/%2F/e/events/q/missing", map[string]any{}, http.StatusNotFound, "not_found")
	c.expectError("POST", "/api/bindings/%2F/e/missing/q/q1", map[string]any{}, http.StatusNotFound, "not_found")
	c.expectError("POST", "/api/bindings/%2F/e/events/z/q1", map[string]any{}, http.StatusNotFound, "not_found")
	c.expectError("POST", "/api/bindings/%2F/e/amq.default/q/q1", map[string]any{}, http.StatusForbidden, "access_refused")
	c.expectError("POST", "/api/bindings/%2F/e/events/q/q1", map[string]any{"routing_key": 7}, http.StatusBadRequest, "bad_request")

	var bs []map[string]any
	require.Equal(t, http.StatusOK, c.call("GET", "/api/bindings/%2F", nil, &bs))
	assert.NotNil(t, apiFind(bs, "routing_key", "q1"), "the default exchange's implicit bindings are listed")
	require.Equal(t, http.StatusOK, c.call("GET", "/api/bindings/%2F/e/events/q/q1", nil, &bs))
	require.Len(t, bs, 1)
	assert.Equal(t, "events", bs[0]["source"])
	assert.Equal(t, "queue", bs[0]["destination_type"])
	assert.Equal(t, "order.*", bs[0]["routing_key"])
	props := bs[0]["properties_key"].(string)
	require.Equal(t, http.StatusOK, c.call("GET", "/api/bindings/%2F/e/amq.headers/q/q2", nil, &bs))
	require.Len(t, bs, 1)
	headersProps := bs[0]["properties_key"].(string)
	assert.True(t, strings.HasPrefix(headersProps, "~"), headersProps)
	require.Equal(t, http.StatusOK, c.call("GET", "/api/exchanges/%2F/events/bindings/source", nil, &bs))
	assert.Len(t, bs, 2)
	require.Equal(t, http.StatusOK, c.call("GET", "/api/exchanges/%2F/fan/bindings/destination", nil, &bs))
	assert.Len(t, bs, 1)
	require.Equal(t, http.StatusOK, c.call("GET", "/api/queues/%2F/q2/bindings", nil, &bs))
	assert.Len(t, bs, 3, "default, fan, amq.headers")

	// Routing through the bindings: events → q1 (order.*) and events → fan → q2.
	var routed map[string]any
	require.Equal(t, http.StatusOK, c.call("POST", "/api/exchanges/%2F/events/publish", map[string]any{"routing_key": "order.new", "payload": "p"}, &routed))
	assert.Equal(t, true, routed["routed"])
	var q map[string]any
	c.call("GET", "/api/queues/%2F/q1", nil, &q)
	assert.Equal(t, float64(1), q["messages"])
	c.call("GET", "/api/queues/%2F/q2", nil, &q)
	assert.Equal(t, float64(1), q["messages"])

	// One binding by its properties key; deleting it twice is 204 then 404.
	var one map[string]any
	require.Equal(t, http.StatusOK, c.call("GET", "/api/bindings/%2F/e/events/q/q1/"+props, nil, &one))
	assert.Equal(t, "order.*", one["routing_key"])
	require.Equal(t, http.StatusNoContent, c.call("DELETE", "/api/bindings/%2F/e/events/q/q1/"+props, nil, nil))
	c.expectError("DELETE", "/api/bindings/%2F/e/events/q/q1/"+props, nil, http.StatusNotFound, "not_found")
	require.Equal(t, http.StatusNoContent, c.call("DELETE", "/api/bindings/%2F/e/amq.headers/q/q2/"+headersProps, nil, nil))
	c.expectError("DELETE", "/api/bindings/%2F/e/amq.default/q/q1/q1", nil, http.StatusForbidden, "access_refused")
	require.Equal(t, http.StatusOK, c.call("POST", "/api/exchanges/%2F/events/publish", map[string]any{"routing_key": "order.new", "payload": "p"}, &routed))
	c.call("GET", "/api/queues/%2F/q1", nil, &q)
	assert.Equal(t, float64(1), q["messages"], "q1 is no longer bound")

	// if-unused, then delete; the exchange's bindings go with it.
	c.expectError("DELETE", "/api/exchanges/%2F/fan?if-unused=true", nil, http.StatusBadRequest, "bad_request")
	require.Equal(t, http.StatusNoContent, c.call("DELETE", "/api/exchanges/%2F/fan", nil, nil))
	c.expectError("DELETE", "/api/exchanges/%2F/fan", nil, http.StatusNotFound, "not_found")
	require.Equal(t, http.StatusOK, c.call("GET", "/api/exchanges/%2F/events/bindings/source", nil, &bs))
	assert.Empty(t, bs)

	// A producer attached over AMQP sees the same topology.
	s := newSess(t, dial(t, b, nil))
	_, err := s.NewSender(testCtx(t), "/exchanges/fan", nil)
	require.Error(t, err, "the exchange is gone")
}

func TestHTTPAPIOverviewVhostsUsersPermissions(t *testing.T) {
	b, c := startAPIBroker(t, true)
	require.Equal(t, http.StatusCreated, c.call("PUT", "/api/queues/%2F/q", nil, nil))
	require.Equal(t, http.StatusCreated, c.as("admin", "secret").call("PUT", "/api/queues/other/q", nil, nil))
	s := newSess(t, dial(t, b, nil))
	send(t, sender(t, s, "/queues/q", nil), "x")
	receiver(t, s, "/queues/q", &amqp.ReceiverOptions{Credit: 1}) // takes the message, unsettled

	var ov map[string]any
	require.Eventually(t, func() bool {
		c.call("GET", "/api/overview", nil, &ov)
		return ov["queue_totals"].(map[string]any)["messages_unacknowledged"] == float64(1)
	}, 5e9, 1e7)
	assert.Equal(t, "Warren", ov["product_name"])
	assert.Equal(t, Version, ov["product_version"])
	totals := ov["object_totals"].(map[string]any)
	assert.Equal(t, float64(1), totals["connections"])
	assert.Equal(t, float64(1), totals["channels"])
	assert.Equal(t, float64(2), totals["queues"])
	assert.Equal(t, float64(12), totals["exchanges"], "6 per vhost: the default and amq.*")
	assert.Equal(t, float64(1), totals["consumers"])
	assert.Equal(t, float64(1), ov["queue_totals"].(map[string]any)["messages"])
	assert.Len(t, ov["listeners"], 2)

	var vhosts []map[string]any
	require.Equal(t, http.StatusOK, c.call("GET", "/api/vhosts", nil, &vhosts))
	require.Len(t, vhosts, 2)
	assert.Equal(t, "/", vhosts[0]["name"])
	assert.Equal(t, "other", vhosts[1]["name"])
	var vh map[string]any
	require.Equal(t, http.StatusOK, c.call("GET", "/api/vhosts/other", nil, &vh))
	assert.Equal(t, float64(1), vh["queues"])
	c.expectError("GET", "/api/vhosts/none", nil, http.StatusNotFound, "not_found")

	var users []map[string]any
	require.Equal(t, http.StatusOK, c.call("GET", "/api/users", nil, &users))
	require.Len(t, users, 5)
	assert.Equal(t, []any{"management"}, apiFind(users, "name", "mgr")["tags"])
	assert.Equal(t, []any{}, apiFind(users, "name", "app")["tags"])
	assert.Equal(t, []any{"administrator"}, apiFind(users, "name", "guest")["tags"])
	var u map[string]any
	require.Equal(t, http.StatusOK, c.call("GET", "/api/users/admin", nil, &u))
	assert.Equal(t, []any{"administrator"}, u["tags"])
	c.expectError("GET", "/api/users/nobody", nil, http.StatusNotFound, "not_found")

	var perms []map[string]any
	require.Equal(t, http.StatusOK, c.call("GET", "/api/permissions", nil, &perms))
	require.Len(t, perms, 5, "admin ×2, app, guest (RabbitMQ's default), mgr")
	assert.Equal(t, "admin", perms[0]["user"])
	assert.Equal(t, "other", perms[1]["vhost"])
	assert.Equal(t, "guest", perms[3]["user"])
	assert.Equal(t, ".*", perms[3]["configure"])
	assert.Equal(t, "mgr-.*", perms[4]["configure"])
}
