package actors

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/actors/definitions"
)

// withRateInterval samples the message counters every d for the brokers the test starts.
func withRateInterval(t *testing.T, d time.Duration) {
	old := apiRateInterval
	apiRateInterval = d
	t.Cleanup(func() { apiRateInterval = old })
}

func rateOf(stats any, field string) float64 {
	m, _ := stats.(map[string]any)
	d, _ := m[field+"_details"].(map[string]any)
	r, _ := d["rate"].(float64)
	return r
}

func countOf(stats any, field string) float64 {
	m, _ := stats.(map[string]any)
	n, _ := m[field].(float64)
	return n
}

// Message rates (RabbitMQ's message_stats) in the overview, vhosts, queues and exchanges: counts and
// per-second rates of what producers and consumers do.
func TestHTTPAPIMessageRates(t *testing.T) {
	withRateInterval(t, 100*time.Millisecond)
	b, c := startAPIBroker(t, false)
	require.Equal(t, http.StatusCreated, c.call("PUT", "/api/exchanges/%2F/events", map[string]any{"type": "fanout"}, nil))
	require.Equal(t, http.StatusCreated, c.call("PUT", "/api/queues/%2F/q", nil, nil))
	require.Equal(t, http.StatusCreated, c.call("POST", "/api/bindings/%2F/e/events/q/q", map[string]any{}, nil))

	var ov map[string]any
	require.Equal(t, http.StatusOK, c.call("GET", "/api/overview", nil, &ov))
	require.Contains(t, ov, "message_stats")
	assert.Equal(t, float64(0), countOf(ov["message_stats"], "publish"))
	assert.Equal(t, float64(0), rateOf(ov["message_stats"], "publish"))

	// A producer publishes until the overview shows a publish rate.
	s := newSess(t, dial(t, b, nil))
	snd := sender(t, s, "/exchanges/events", nil)
	var sent atomic.Int64
	stop, stopped := make(chan struct{}), make(chan struct{})
	ctx := testCtx(t)
	go func() {
		defer close(stopped)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if snd.Send(ctx, amqp.NewMessage(fmt.Appendf(nil, "m%d", i)), nil) != nil {
				return
			}
			sent.Add(1)
		}
	}()
	// At least 3 go out: the consumer below takes two and leaves one (a loaded machine can show a rate
	// after the first message already).
	require.Eventually(t, func() bool {
		c.call("GET", "/api/overview", nil, &ov)
		return rateOf(ov["message_stats"], "publish") > 0 && sent.Load() >= 3
	}, 20*time.Second, 10*time.Millisecond, "%v", ov["message_stats"])
	close(stop)
	<-stopped
	n := float64(sent.Load())
	require.GreaterOrEqual(t, n, float64(3))

	// A consumer takes and accepts two.
	rcv := receiver(t, s, "/queues/q", &amqp.ReceiverOptions{Credit: -1})
	require.NoError(t, rcv.IssueCredit(2))
	for range 2 {
		require.NoError(t, rcv.AcceptMessage(testCtx(t), recv(t, rcv)))
	}

	// Counts settle at what happened; the rates fall back to zero once nothing happens.
	require.Eventually(t, func() bool {
		c.call("GET", "/api/overview", nil, &ov)
		st := ov["message_stats"]
		return countOf(st, "publish") == n && countOf(st, "ack") == 2 && rateOf(st, "publish") == 0 && rateOf(st, "ack") == 0
	}, 20*time.Second, 10*time.Millisecond, "%v", ov["message_stats"])
	assert.Equal(t, float64(2), countOf(ov["message_stats"], "deliver_get"))

	var q map[string]any
	require.Equal(t, http.StatusOK, c.call("GET", "/api/queues/%2F/q", nil, &q))
	assert.Equal(t, float64(2), countOf(q["message_stats"], "deliver_get"))
	assert.Equal(t, float64(2), countOf(q["message_stats"], "ack"))
	assert.Contains(t, q["message_stats"], "ack_details")
	assert.Equal(t, n-2, q["messages"])
	var qs []map[string]any
	require.Equal(t, http.StatusOK, c.call("GET", "/api/queues", nil, &qs))
	assert.Equal(t, float64(2), countOf(apiFind(qs, "name", "q")["message_stats"], "ack"))

	var x map[string]any
	require.Equal(t, http.StatusOK, c.call("GET", "/api/exchanges/%2F/events", nil, &x))
	assert.Equal(t, n, countOf(x["message_stats"], "publish_in"))
	assert.Equal(t, n, countOf(x["message_stats"], "publish_out"))
	var xs []map[string]any
	require.Equal(t, http.StatusOK, c.call("GET", "/api/exchanges/%2F", nil, &xs))
	assert.Equal(t, float64(0), countOf(apiFind(xs, "name", "amq.direct")["message_stats"], "publish_in"))

	var vh map[string]any
	require.Equal(t, http.StatusOK, c.call("GET", "/api/vhosts/%2F", nil, &vh))
	assert.Equal(t, n, countOf(vh["message_stats"], "publish"))
}

// Sessions are RabbitMQ's channels: /api/channels, /api/vhosts/{vhost}/channels and
// /api/connections/{name}/channels list them with their links.
func TestHTTPAPIChannels(t *testing.T) {
	b, c := startAPIBroker(t, false)
	conn := dial(t, b, nil)
	s1 := newSess(t, conn)
	sender(t, s1, "work", &amqp.SenderOptions{Name: "producer-1"})
	newSess(t, conn)

	var chans []map[string]any
	require.Equal(t, http.StatusOK, c.call("GET", "/api/channels", nil, &chans))
	require.Len(t, chans, 2)
	name := chans[0]["connection"].(string)
	assert.Equal(t, "guest", chans[0]["user"])
	assert.Equal(t, "/", chans[0]["vhost"])
	assert.Equal(t, fmt.Sprintf("%s (%v)", name, chans[0]["channel"]), chans[0]["name"])
	links := chans[0]["links"].([]any)
	require.Len(t, links, 1)
	assert.Equal(t, "producer-1", links[0].(map[string]any)["name"])
	require.Equal(t, http.StatusOK, c.call("GET", "/api/vhosts/%2F/channels", nil, &chans))
	assert.Len(t, chans, 2)
	require.Equal(t, http.StatusOK, c.call("GET", "/api/connections/"+name+"/channels", nil, &chans))
	assert.Len(t, chans, 2)
	c.expectError("GET", "/api/vhosts/none/channels", nil, http.StatusNotFound, "not_found")
	c.expectError("GET", "/api/connections/conn-999999/channels", nil, http.StatusNotFound, "not_found")
}

// RabbitMQ's rules for connections: administrators (and monitoring users) see every connection of
// their vhosts and may close any; a management user sees and closes its own only.
func TestHTTPAPIConnectionVisibility(t *testing.T) {
	b, c := startAPIBroker(t, true)
	dial(t, b, &amqp.ConnOptions{ContainerID: "guest-conn"})
	mine := dial(t, b, &amqp.ConnOptions{ContainerID: "mgr-conn", SASLType: amqp.SASLTypePlain("mgr", "mpass")})
	s := newSess(t, mine)
	receiver(t, s, "mgr-q", &amqp.ReceiverOptions{Name: "mgr-consumer"}) // auto-created
	mgr := c.as("mgr", "mpass")

	var conns []map[string]any
	require.Equal(t, http.StatusOK, c.call("GET", "/api/connections", nil, &conns))
	require.Len(t, conns, 2)
	guestConn := apiFind(conns, "container", "guest-conn")["name"].(string)
	mgrConn := apiFind(conns, "container", "mgr-conn")["name"].(string)

	require.Equal(t, http.StatusOK, mgr.call("GET", "/api/connections", nil, &conns))
	require.Len(t, conns, 1)
	assert.Equal(t, mgrConn, conns[0]["name"])
	var chans []map[string]any
	require.Equal(t, http.StatusOK, mgr.call("GET", "/api/channels", nil, &chans))
	require.Len(t, chans, 1)
	assert.Equal(t, mgrConn, chans[0]["connection"])
	mgr.expectError("GET", "/api/connections/"+guestConn, nil, http.StatusNotFound, "not_found")
	mgr.expectError("GET", "/api/connections/"+guestConn+"/sessions", nil, http.StatusNotFound, "not_found")
	mgr.expectError("DELETE", "/api/connections/"+guestConn, nil, http.StatusNotFound, "not_found")
	var ov map[string]any
	require.Equal(t, http.StatusOK, mgr.call("GET", "/api/overview", nil, &ov))
	assert.Equal(t, float64(1), ov["object_totals"].(map[string]any)["connections"])

	require.Equal(t, http.StatusNoContent, mgr.call("DELETE", "/api/connections/"+mgrConn, nil, nil))
	require.Eventually(t, func() bool {
		c.call("GET", "/api/connections", nil, &conns)
		return len(conns) == 1 && conns[0]["name"] == guestConn
	}, 20*time.Second, 10*time.Millisecond)
	require.Equal(t, http.StatusNoContent, c.call("DELETE", "/api/connections/"+guestConn, nil, nil), "an administrator closes any")
}

// Getting messages needs read on the queue, publishing write on the exchange (RabbitMQ: basic.get and
// basic.publish as the user).
func TestHTTPAPIMessagePermissions(t *testing.T) {
	b := startBroker(t, func(o *Options) {
		o.HTTPAddr = "127.0.0.1:0"
		o.Definitions = &definitions.Definitions{
			Users: []definitions.User{{Name: "viewer", PasswordHash: rabbitHash("vpass"), Tags: []string{"management"}}},
			Permissions: []definitions.Permission{
				{User: "viewer", Vhost: "/", Configure: "", Write: "events", Read: "mine"},
			},
		}
	})
	c := &apiTestClient{t: t, base: "http://" + b.HTTPAddr().String(), user: "guest", pass: "guest"}
	for _, q := range []string{"mine", "theirs"} {
		require.Equal(t, http.StatusCreated, c.call("PUT", "/api/queues/%2F/"+q, nil, nil))
		var routed map[string]any
		require.Equal(t, http.StatusOK, c.call("POST", "/api/exchanges/%2F/amq.default/publish", map[string]any{"routing_key": q, "payload": "p"}, &routed))
		require.Equal(t, true, routed["routed"])
	}
	require.Equal(t, http.StatusCreated, c.call("PUT", "/api/exchanges/%2F/events", map[string]any{"type": "fanout"}, nil))
	v := c.as("viewer", "vpass")

	var got []map[string]any
	require.Equal(t, http.StatusOK, v.call("POST", "/api/queues/%2F/mine/get", map[string]any{"count": 1}, &got))
	require.Len(t, got, 1)
	e := v.expectError("POST", "/api/queues/%2F/theirs/get", map[string]any{"count": 1, "ackmode": "ack_requeue_false"}, http.StatusForbidden, "access_refused")
	assert.Contains(t, e["reason"], "read access")
	var q map[string]any
	require.Equal(t, http.StatusOK, c.call("GET", "/api/queues/%2F/theirs", nil, &q))
	assert.Equal(t, float64(1), q["messages"], "the refused get took nothing")

	var routed map[string]any
	require.Equal(t, http.StatusOK, v.call("POST", "/api/exchanges/%2F/events/publish", map[string]any{"routing_key": "k", "payload": "p"}, &routed))
	assert.Equal(t, false, routed["routed"], "permitted, and unbound")
	e = v.expectError("POST", "/api/exchanges/%2F/amq.default/publish", map[string]any{"routing_key": "nowhere", "payload": "p"}, http.StatusForbidden, "access_refused")
	assert.Contains(t, e["reason"], "write access")
}
