package actors

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/actors/definitions"
)

func TestHTTPAPIPublishAndGet(t *testing.T) {
	b, c := startAPIBroker(t, false)
	require.Equal(t, http.StatusCreated, c.call("PUT", "/api/queues/%2F/jobs", nil, nil))

	// Publish through the default exchange with RabbitMQ's property names.
	var routed map[string]any
	require.Equal(t, http.StatusOK, c.call("POST", "/api/exchanges/%2F/amq.default/publish", map[string]any{
		"routing_key": "jobs", "payload": "hello",
		"properties": map[string]any{"delivery_mode": 2, "priority": 7, "message_id": "m-1", "correlation_id": 42,
			"content_type": "text/plain", "reply_to": "/queues/replies", "type": "greeting", "expiration": "60000",
			"timestamp": 1700000000, "headers": map[string]any{"tenant": "acme", "n": 3}},
	}, &routed))
	assert.Equal(t, true, routed["routed"])
	require.Equal(t, http.StatusOK, c.call("POST", "/api/exchanges/%2F/amq.default/publish", map[string]any{
		"routing_key": "jobs", "payload": base64.StdEncoding.EncodeToString([]byte{0xff, 0x00, 0x01}), "payload_encoding": "base64",
	}, &routed))
	assert.Equal(t, true, routed["routed"])

	// Unroutable: routed false. Errors: unknown exchange 404, bad encoding or property 400.
	require.Equal(t, http.StatusOK, c.call("POST", "/api/exchanges/%2F/amq.default/publish", map[string]any{"routing_key": "nowhere", "payload": "x"}, &routed))
	assert.Equal(t, false, routed["routed"])
	require.Equal(t, http.StatusOK, c.call("POST", "/api/exchanges/%2F/amq.direct/publish", map[string]any{"routing_key": "nobody", "payload": "x"}, &routed))
	assert.Equal(t, false, routed["routed"])
	c.expectError("POST", "/api/exchanges/%2F/nope/publish", map[string]any{"payload": "x"}, http.StatusNotFound, "not_found")
	c.expectError("POST", "/api/exchanges/%2F/amq.direct/publish", map[string]any{"payload": "x", "payload_encoding": "hex"}, http.StatusBadRequest, "bad_request")
	c.expectError("POST", "/api/exchanges/%2F/amq.direct/publish", map[string]any{"payload": "%%%", "payload_encoding": "base64"}, http.StatusBadRequest, "bad_request")
	c.expectError("POST", "/api/exchanges/%2F/amq.direct/publish", map[string]any{"properties": map[string]any{"colour": "red"}}, http.StatusBadRequest, "bad_request")
	c.expectError("POST", "/api/exchanges/%2F/amq.direct/publish", map[string]any{"properties": map[string]any{"priority": 300}}, http.StatusBadRequest, "bad_request")
	c.expectError("POST", "/api/exchanges/%2F/amq.direct/publish", map[string]any{"properties": map[string]any{"headers": map[string]any{"nested": map[string]any{}}}}, http.StatusBadRequest, "bad_request")

	// An internal exchange cannot be published to.
	require.Equal(t, http.StatusCreated, c.call("PUT", "/api/exchanges/%2F/inner", map[string]any{"type": "fanout", "internal": true}, nil))
	c.expectError("POST", "/api/exchanges/%2F/inner/publish", map[string]any{"payload": "x"}, http.StatusForbidden, "access_refused")

	// A full queue with reject-publish refuses.
	require.Equal(t, http.StatusCreated, c.call("PUT", "/api/queues/%2F/tiny", map[string]any{"arguments": map[string]any{"x-max-length": 0, "x-overflow": "reject-publish"}}, nil))
	require.Equal(t, http.StatusOK, c.call("POST", "/api/exchanges/%2F/amq.default/publish", map[string]any{"routing_key": "tiny", "payload": "x"}, &routed))
	assert.Equal(t, false, routed["routed"])
	assert.Equal(t, true, routed["rejected"])

	// Get with requeue looks without taking.
	var got []map[string]any
	require.Equal(t, http.StatusOK, c.call("POST", "/api/queues/%2F/jobs/get", map[string]any{"count": 5, "ackmode": "ack_requeue_true"}, &got))
	require.Len(t, got, 2)
	m := got[0]
	assert.Equal(t, "hello", m["payload"])
	assert.Equal(t, "string", m["payload_encoding"])
	assert.Equal(t, float64(5), m["payload_bytes"])
	assert.Equal(t, float64(1), m["message_count"])
	assert.Equal(t, "", m["exchange"])
	assert.Equal(t, "jobs", m["routing_key"])
	assert.Equal(t, false, m["redelivered"])
	props := m["properties"].(map[string]any)
	assert.Equal(t, float64(2), props["delivery_mode"])
	assert.Equal(t, float64(7), props["priority"])
	assert.Equal(t, "m-1", props["message_id"])
	assert.Equal(t, float64(42), props["correlation_id"])
	assert.Equal(t, "text/plain", props["content_type"])
	assert.Equal(t, "/queues/replies", props["reply_to"])
	assert.Equal(t, "greeting", props["subject"])
	assert.Equal(t, "60000", props["expiration"])
	assert.Equal(t, float64(1700000000), props["timestamp"])
	assert.Equal(t, map[string]any{"tenant": "acme", "n": float64(3)}, props["headers"])
	assert.Equal(t, "base64", got[1]["payload_encoding"])
	assert.Equal(t, base64.StdEncoding.EncodeToString([]byte{0xff, 0x00, 0x01}), got[1]["payload"])
	assert.Equal(t, float64(0), got[1]["message_count"])

	require.Equal(t, http.StatusOK, c.call("POST", "/api/queues/%2F/jobs/get", map[string]any{"count": "1", "encoding": "base64", "truncate": 2}, &got))
	require.Len(t, got, 1)
	assert.Equal(t, base64.StdEncoding.EncodeToString([]byte("he")), got[0]["payload"])
	assert.Equal(t, float64(5), got[0]["payload_bytes"])

	// Bad requests.
	for _, body := range []map[string]any{{"count": 0}, {"count": "many"}, {"ackmode": "reject_requeue_false"}, {"ackmode": "keep"}, {"encoding": "hex"}} {
		c.expectError("POST", "/api/queues/%2F/jobs/get", body, http.StatusBadRequest, "bad_request")
	}
	c.expectError("POST", "/api/queues/%2F/none/get", map[string]any{}, http.StatusNotFound, "not_found")

	// ack_requeue_false takes the first one for good; a consumer gets the other.
	require.Equal(t, http.StatusOK, c.call("POST", "/api/queues/%2F/jobs/get", map[string]any{"count": 1, "ackmode": "ack_requeue_false"}, &got))
	require.Len(t, got, 1)
	assert.Equal(t, "hello", got[0]["payload"])
	var q map[string]any
	c.call("GET", "/api/queues/%2F/jobs", nil, &q)
	assert.Equal(t, float64(1), q["messages"])
	s := newSess(t, dial(t, b, nil))
	msg := recv(t, receiver(t, s, "/queues/jobs", nil))
	assert.Equal(t, []byte{0xff, 0x00, 0x01}, msg.GetData())

	// A message published over AMQP with an amqp-value body renders as its value.
	snd := sender(t, s, "/queues/jobs", nil)
	require.NoError(t, snd.Send(testCtx(t), &amqp.Message{Value: "a value"}, nil))
	require.NoError(t, snd.Send(testCtx(t), &amqp.Message{Value: map[string]any{"k": int64(1)}}, nil))
	require.Eventually(t, func() bool {
		c.call("POST", "/api/queues/%2F/jobs/get", map[string]any{"count": 2}, &got)
		return len(got) == 2
	}, 5e9, 1e7)
	assert.Equal(t, "a value", got[0]["payload"])
	assert.Equal(t, `{"k":1}`, got[1]["payload"])
	assert.Equal(t, "jobs", got[0]["routing_key"])
}

func TestHTTPAPIConnectionsSessionsConsumers(t *testing.T) {
	b, c := startAPIBroker(t, false)
	conn := dial(t, b, &amqp.ConnOptions{ContainerID: "api-test-client"})
	s := newSess(t, conn)
	snd := sender(t, s, "work", &amqp.SenderOptions{Name: "producer-1"})
	send(t, snd, "w1")
	rcv := receiver(t, s, "/queues/work", &amqp.ReceiverOptions{Name: "consumer-1", Credit: 5})
	recv(t, rcv)

	var conns []map[string]any
	require.Equal(t, http.StatusOK, c.call("GET", "/api/connections", nil, &conns))
	cj := apiFind(conns, "container", "api-test-client")
	require.NotNil(t, cj, "%v", conns)
	name := cj["name"].(string)
	assert.True(t, strings.HasPrefix(name, "conn-"))
	assert.Equal(t, "guest", cj["user"])
	assert.Equal(t, "/", cj["vhost"])
	assert.Equal(t, float64(1), cj["sessions"])
	assert.Equal(t, "running", cj["state"])
	assert.NotEmpty(t, cj["peer"])
	var one map[string]any
	require.Equal(t, http.StatusOK, c.call("GET", "/api/connections/"+name, nil, &one))
	assert.Equal(t, name, one["name"])

	var sessions []map[string]any
	require.Equal(t, http.StatusOK, c.call("GET", "/api/connections/"+name+"/sessions", nil, &sessions))
	require.Len(t, sessions, 1)
	links := sessions[0]["links"].([]any)
	require.Len(t, links, 2)
	var producer, consumer map[string]any
	for _, l := range links {
		lm := l.(map[string]any)
		switch lm["kind"] {
		case "publisher":
			producer = lm
		case "consumer":
			consumer = lm
		}
	}
	require.NotNil(t, producer)
	require.NotNil(t, consumer)
	assert.Equal(t, "producer-1", producer["name"])
	assert.Equal(t, "work", producer["address"])
	assert.Equal(t, "sender", producer["role"])
	assert.Equal(t, "consumer-1", consumer["name"])
	assert.Equal(t, "work", consumer["queue"])
	assert.Equal(t, "receiver", consumer["role"])
	assert.Equal(t, true, consumer["ack_required"])

	var consumers []map[string]any
	require.Equal(t, http.StatusOK, c.call("GET", "/api/consumers", nil, &consumers))
	require.Len(t, consumers, 1)
	assert.Equal(t, "consumer-1", consumers[0]["consumer_tag"])
	assert.Equal(t, map[string]any{"name": "work", "vhost": "/"}, consumers[0]["queue"])
	require.Equal(t, http.StatusOK, c.call("GET", "/api/consumers/%2F", nil, &consumers))
	assert.Len(t, consumers, 1)
	c.expectError("GET", "/api/consumers/none", nil, http.StatusNotFound, "not_found")

	// Closing it: the client sees amqp:connection:forced with our reason.
	resp, _ := c.do("DELETE", "/api/connections/"+name, nil)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	_, err := rcv.Receive(testCtx(t), nil)
	var connErr *amqp.ConnError
	require.True(t, errors.As(err, &connErr), "%v", err)
	require.NotNil(t, connErr.RemoteErr)
	assert.Equal(t, amqp.ErrCondConnectionForced, connErr.RemoteErr.Condition)
	require.Eventually(t, func() bool {
		c.call("GET", "/api/connections", nil, &conns)
		return len(conns) == 0
	}, 20*time.Second, 10*time.Millisecond, "a liveness bound: generous for -race on a loaded 2-core machine")
	c.expectError("DELETE", "/api/connections/"+name, nil, http.StatusNotFound, "not_found")
	c.expectError("GET", "/api/connections/"+name+"/sessions", nil, http.StatusNotFound, "not_found")
}

func TestHTTPAPIDefinitions(t *testing.T) {
	_, c := startAPIBroker(t, true)
	require.Equal(t, http.StatusCreated, c.call("PUT", "/api/exchanges/%2F/events", map[string]any{"type": "topic"}, nil))
	require.Equal(t, http.StatusCreated, c.call("PUT", "/api/queues/%2F/audit", map[string]any{"arguments": map[string]any{"x-message-ttl": 1000, "x-dead-letter-exchange": "events"}}, nil))
	require.Equal(t, http.StatusCreated, c.call("POST", "/api/bindings/%2F/e/events/q/audit", map[string]any{"routing_key": "#"}, nil))
	admin := c.as("admin", "secret")
	require.Equal(t, http.StatusCreated, admin.call("PUT", "/api/queues/other/side", map[string]any{"durable": false}, nil))

	resp, data := c.do("GET", "/api/definitions", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	d, err := definitions.Parse(data, testLogger())
	require.NoError(t, err, "%s", data)
	assert.Len(t, d.Vhosts, 2)
	require.Len(t, d.Exchanges, 1)
	assert.Equal(t, "events", d.Exchanges[0].Name)
	assert.Equal(t, "topic", d.Exchanges[0].Type)
	require.Len(t, d.Queues, 2)
	assert.Equal(t, map[string]any{"x-message-ttl": int64(1000), "x-dead-letter-exchange": "events"}, d.Queues[0].Arguments)
	assert.Equal(t, "other", d.Queues[1].Vhost)
	require.Len(t, d.Bindings, 1)
	assert.Equal(t, "#", d.Bindings[0].RoutingKey)
	for _, u := range d.Users {
		assert.Empty(t, u.Password, "passwords are exported hashed")
		assert.NotEmpty(t, u.PasswordHash, u.Name)
	}

	// Import into a fresh broker: the topology appears, and the hashed guest still logs in.
	_, c2 := startAPIBroker(t, true)
	// guest has no permissions on "other": the import stops there, naming the entry.
	e := c2.expectError("POST", "/api/definitions", string(data), http.StatusForbidden, "access_refused")
	assert.Contains(t, e["reason"], `"side"`)
	c2 = c2.as("admin", "secret")
	var res map[string]any
	require.Equal(t, http.StatusOK, c2.call("POST", "/api/definitions", string(data), &res))
	assert.Equal(t, float64(1), res["exchanges"])
	assert.Equal(t, float64(2), res["queues"])
	assert.Equal(t, float64(1), res["bindings"])
	var bs []map[string]any
	require.Equal(t, http.StatusOK, c2.call("GET", "/api/bindings/%2F/e/events/q/audit", nil, &bs))
	assert.Len(t, bs, 1)
	var q map[string]any
	require.Equal(t, http.StatusOK, c2.call("GET", "/api/queues/other/side", nil, &q))
	assert.Equal(t, false, q["durable"])
	// Importing the same again changes nothing.
	require.Equal(t, http.StatusOK, c2.call("POST", "/api/definitions", string(data), &res))

	// Users, vhosts and permissions are fixed at start: warnings, not changes.
	extra := `{"vhosts": [{"name": "/"}, {"name": "new"}], "users": [{"name": "newbie", "password": "x", "tags": "management"}],
	  "permissions": [{"user": "newbie", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}]}`
	require.Equal(t, http.StatusOK, c2.call("POST", "/api/definitions", extra, &res))
	assert.Len(t, res["warnings"], 3, "%v", res["warnings"])

	// Errors name the entry: invalid file, unknown vhost, a queue that exists with other properties.
	e = c2.expectError("POST", "/api/definitions", `{"queues": [{"name": "q", "arguments": {"x-max-length": -1}}]}`, http.StatusBadRequest, "bad_request")
	assert.Contains(t, e["reason"], "x-max-length")
	c2.expectError("POST", "/api/definitions", `not json`, http.StatusBadRequest, "bad_request")
	e = c2.expectError("POST", "/api/definitions", `{"vhosts": [{"name": "ghost"}], "queues": [{"name": "q", "vhost": "ghost"}]}`, http.StatusBadRequest, "bad_request")
	assert.Contains(t, e["reason"], "ghost")
	e = c2.expectError("POST", "/api/definitions", `{"queues": [{"name": "audit", "durable": false}]}`, http.StatusConflict, "conflict")
	assert.Contains(t, e["reason"], "audit")
	e = c2.expectError("POST", "/api/definitions", `{"exchanges": [{"name": "odd", "type": "x-custom"}]}`, http.StatusBadRequest, "bad_request")
	assert.Contains(t, e["reason"], "odd")
}
