package actors

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/actors/definitions"
)

// mgmtClient speaks RabbitMQ 4's HTTP-over-AMQP management protocol over a go-amqp link pair.
type mgmtClient struct {
	t   *testing.T
	snd *amqp.Sender
	rcv *amqp.Receiver
	n   int
}

func newMgmtClient(t *testing.T, s *amqp.Session) *mgmtClient {
	props := map[string]any{"paired": true}
	snd := sender(t, s, "/management", &amqp.SenderOptions{Name: "management-link-pair", SettlementMode: amqp.SenderSettleModeSettled.Ptr(), Properties: props})
	rcv := receiver(t, s, "/management", &amqp.ReceiverOptions{Name: "management-link-pair", RequestedSenderSettleMode: amqp.SenderSettleModeSettled.Ptr(), Properties: props})
	return &mgmtClient{t: t, snd: snd, rcv: rcv}
}

func (c *mgmtClient) call(method, path string, body any) (int, any) {
	c.t.Helper()
	c.n++
	id := fmt.Sprintf("req-%d", c.n)
	replyTo := "$me"
	m := &amqp.Message{Properties: &amqp.MessageProperties{MessageID: id, To: &path, Subject: &method, ReplyTo: &replyTo}, Value: body}
	require.NoError(c.t, c.snd.Send(testCtx(c.t), m, nil))
	resp := recv(c.t, c.rcv)
	require.Equal(c.t, id, resp.Properties.CorrelationID)
	assert.Equal(c.t, "1.1", resp.ApplicationProperties["http:response"])
	status, err := strconv.Atoi(*resp.Properties.Subject)
	require.NoError(c.t, err)
	return status, resp.Value
}

func field(t *testing.T, body any, key string) any {
	t.Helper()
	switch m := body.(type) {
	case map[string]any:
		return m[key]
	case map[any]any:
		return m[key]
	}
	t.Fatalf("body %T is not a map: %v", body, body)
	return nil
}

func TestManagementNode(t *testing.T) {
	b := startBroker(t)
	s := newSess(t, dial(t, b, nil))
	mc := newMgmtClient(t, s)

	// Queues: declare (201), again (200), inequivalent (409), reserved name (403), get, 404.
	st, body := mc.call("PUT", "/queues/orders", map[string]any{"durable": true, "arguments": map[string]any{"x-max-length": int64(10)}})
	require.Equal(t, 201, st, "%v", body)
	assert.Equal(t, "orders", field(t, body, "name"))
	st, _ = mc.call("PUT", "/queues/orders", map[string]any{"durable": true, "arguments": map[string]any{"x-max-length": int64(10)}})
	assert.Equal(t, 200, st)
	st, _ = mc.call("PUT", "/queues/orders", map[string]any{"durable": false})
	assert.Equal(t, 409, st)
	st, _ = mc.call("PUT", "/queues/amq.mine", nil)
	assert.Equal(t, 403, st)
	st, _ = mc.call("PUT", "/queues/bad", map[string]any{"arguments": map[string]any{"x-max-length": "ten"}})
	assert.Equal(t, 400, st)
	send(t, sender(t, s, "/queues/orders", nil), "o1")
	st, body = mc.call("GET", "/queues/orders", nil)
	require.Equal(t, 200, st)
	assert.Equal(t, uint64(1), field(t, body, "message_count"))
	assert.Equal(t, uint32(0), field(t, body, "consumer_count"))
	st, _ = mc.call("GET", "/queues/nope", nil)
	assert.Equal(t, 404, st)

	// Exchanges and bindings: declare a fanout, bind, route through it, list, unbind by location.
	st, _ = mc.call("PUT", "/exchanges/"+url.PathEscape("fan out"), map[string]any{"type": "fanout", "durable": true})
	require.Equal(t, 204, st)
	// Names with ';' and '%' survive the binding location's encoding.
	st, _ = mc.call("PUT", "/exchanges/"+url.PathEscape("odd;x%"), map[string]any{"type": "direct"})
	require.Equal(t, 204, st)
	st, _ = mc.call("POST", "/bindings", map[string]any{"source": "odd;x%", "destination_queue": "orders", "binding_key": "k;%"})
	require.Equal(t, 204, st)
	st, body = mc.call("GET", "/bindings?src="+url.QueryEscape("odd;x%"), nil)
	require.Equal(t, 200, st)
	oddLoc, _ := field(t, body.([]any)[0], "location").(string)
	st, _ = mc.call("DELETE", oddLoc, nil)
	require.Equal(t, 204, st)
	st, body = mc.call("GET", "/bindings?src="+url.QueryEscape("odd;x%"), nil)
	require.Equal(t, 200, st)
	assert.Empty(t, body, "the odd binding was deleted by its location")
	st, _ = mc.call("PUT", "/exchanges/fan%20out", map[string]any{"type": "direct", "durable": true})
	assert.Equal(t, 409, st)
	st, _ = mc.call("PUT", "/exchanges/weird", map[string]any{"type": "x-nonexistent"})
	assert.Equal(t, 400, st)
	st, _ = mc.call("DELETE", "/exchanges/amq.direct", nil)
	assert.Equal(t, 403, st)
	st, _ = mc.call("POST", "/bindings", map[string]any{"source": "fan out", "destination_queue": "orders", "binding_key": ""})
	require.Equal(t, 204, st)
	st, _ = mc.call("POST", "/bindings", map[string]any{"source": "fan out", "destination_queue": "missing", "binding_key": ""})
	assert.Equal(t, 404, st)
	send(t, sender(t, s, "/exchanges/fan%20out", nil), "o2")
	st, body = mc.call("GET", "/bindings?src="+url.QueryEscape("fan out")+"&dstq=orders", nil)
	require.Equal(t, 200, st)
	list, ok := body.([]any)
	require.True(t, ok, "%T", body)
	require.Len(t, list, 1)
	loc, _ := field(t, list[0], "location").(string)
	require.NotEmpty(t, loc)
	st, _ = mc.call("DELETE", loc, nil)
	assert.Equal(t, 204, st)
	st, _ = mc.call("DELETE", loc, nil)
	assert.Equal(t, 204, st, "unbinding is idempotent")
	state := sendMsg(t, sender(t, s, "/exchanges/fan%20out", nil), amqp.NewMessage([]byte("o3")))
	assert.IsType(t, &amqp.StateReleased{}, state, "no binding any more")

	// Purge and delete report message counts.
	st, body = mc.call("DELETE", "/queues/orders/messages", nil)
	require.Equal(t, 200, st)
	assert.Equal(t, uint64(2), field(t, body, "message_count"))
	send(t, sender(t, s, "/queues/orders", nil), "o4")
	st, body = mc.call("DELETE", "/queues/orders", nil)
	require.Equal(t, 200, st)
	assert.Equal(t, uint64(1), field(t, body, "message_count"))
	st, _ = mc.call("GET", "/queues/orders", nil)
	assert.Equal(t, 404, st)
	st, _ = mc.call("DELETE", "/exchanges/fan%20out", nil)
	assert.Equal(t, 204, st)
	_, err := s.NewSender(testCtx(t), "/exchanges/fan%20out", nil)
	require.Error(t, err, "the exchange is gone")
}

// The link pair as RabbitMQ 4 pairs it (AMQP Link Pair CS01 §2.1): both broker attaches echo
// paired = true; an attach to /management without it is refused with amqp:invalid-field.
func TestManagementLinkPairing(t *testing.T) {
	b := startBroker(t)
	s := newSess(t, dial(t, b, nil))
	mc := newMgmtClient(t, s)
	assert.Equal(t, true, mc.snd.Properties()["paired"], "the broker's receiving half echoes paired")
	assert.Equal(t, true, mc.rcv.Properties()["paired"], "the broker's sending half echoes paired")
	st, _ := mc.call("GET", "/queues/none", nil)
	assert.Equal(t, 404, st)

	invalid := func(err error) {
		t.Helper()
		var ae *amqp.Error
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, amqp.ErrCond("amqp:invalid-field"), ae.Condition)
		assert.Contains(t, ae.Description, "paired")
	}
	_, err := s.NewSender(testCtx(t), "/management", &amqp.SenderOptions{Name: "unpaired", SettlementMode: amqp.SenderSettleModeSettled.Ptr()})
	invalid(err)
	_, err = s.NewReceiver(testCtx(t), "/management", &amqp.ReceiverOptions{Name: "unpaired", RequestedSenderSettleMode: amqp.SenderSettleModeSettled.Ptr()})
	invalid(err)
	_, err = s.NewSender(testCtx(t), "/management", &amqp.SenderOptions{Name: "false", Properties: map[string]any{"paired": false}})
	invalid(err)
	st, _ = mc.call("GET", "/queues/none", nil)
	assert.Equal(t, 404, st, "the session and the good pair live on")
}

// Queues over /management with RabbitMQ's status codes and body types, edge cases included.
func TestManagementQueueDetails(t *testing.T) {
	b := startBroker(t)
	conn := dial(t, b, nil)
	s := newSess(t, conn)
	mc := newMgmtClient(t, s)

	st, body := mc.call("PUT", "/queues/"+url.PathEscape("a/b c"), map[string]any{"durable": false, "auto_delete": true})
	require.Equal(t, 201, st, "%v", body)
	assert.Equal(t, "a/b c", field(t, body, "name"), "names are percent-encoded in the path")
	assert.Equal(t, "/", field(t, body, "vhost"))
	assert.Equal(t, false, field(t, body, "durable"))
	assert.Equal(t, true, field(t, body, "auto_delete"))
	assert.Equal(t, false, field(t, body, "exclusive"))
	assert.Equal(t, "classic", field(t, body, "type"))
	assert.Equal(t, uint64(0), field(t, body, "message_count"))
	assert.Equal(t, uint32(0), field(t, body, "consumer_count"))
	leader, _ := field(t, body, "leader").(string)
	assert.True(t, strings.HasPrefix(leader, "warren@"), leader)
	// RabbitMQ's Go and .NET clients read replicas as an array of strings, unconditionally.
	assert.Equal(t, []string{leader}, field(t, body, "replicas"))

	// 400: empty name, line breaks, a field of the wrong type, an unknown field, a body that is no map.
	for _, c := range []struct {
		path string
		body any
	}{
		{"/queues/", nil},
		{"/queues/" + url.PathEscape("a\nb"), nil},
		{"/queues/q", map[string]any{"durable": "yes"}},
		{"/queues/q", map[string]any{"durables": true}},
		{"/queues/q", map[string]any{"arguments": "none"}},
		{"/queues/q", "a string"},
	} {
		st, body := mc.call("PUT", c.path, c.body)
		assert.Equal(t, 400, st, "PUT %q %v: %v", c.path, c.body, body)
		assert.IsType(t, "", body, "an error's body is its reason")
	}
	st, _ = mc.call("GET", "/queues/q", nil)
	assert.Equal(t, 404, st, "nothing was declared by a bad request")

	// Deleting a queue that is not there: 200 with message_count 0 (RabbitMQ's delete is idempotent);
	// purging one: 404.
	st, body = mc.call("DELETE", "/queues/never", nil)
	require.Equal(t, 200, st)
	assert.Equal(t, uint64(0), field(t, body, "message_count"))
	st, _ = mc.call("DELETE", "/queues/never/messages", nil)
	assert.Equal(t, 404, st)

	// An exclusive queue declared over /management belongs to the connection: it goes when it closes.
	other := newSess(t, dial(t, b, nil))
	st, _ = newMgmtClient(t, other).call("PUT", "/queues/mine", map[string]any{"exclusive": true, "durable": false})
	require.Equal(t, 201, st)
	st, body = mc.call("GET", "/queues/mine", nil)
	require.Equal(t, 200, st)
	assert.Equal(t, true, field(t, body, "exclusive"))
	require.NoError(t, other.Close(testCtx(t)))
	// Closing the session is not enough; closing its connection is.
	st, _ = mc.call("GET", "/queues/mine", nil)
	assert.Equal(t, 200, st)
	oc := dial(t, b, nil)
	st, _ = newMgmtClient(t, newSess(t, oc)).call("PUT", "/queues/theirs", map[string]any{"exclusive": true, "durable": false})
	require.Equal(t, 201, st)
	require.NoError(t, oc.Close())
	require.Eventually(t, func() bool {
		st, _ := mc.call("GET", "/queues/theirs", nil)
		return st == 404
	}, 10*time.Second, 10*time.Millisecond, "the owner's connection closed")
}

// Exchanges over /management: the default exchange is refused; existing exchanges (amq.* included)
// are checked for equivalence; new amq.* names are refused.
func TestManagementExchangeDetails(t *testing.T) {
	b := startBroker(t)
	mc := newMgmtClient(t, newSess(t, dial(t, b, nil)))

	st, _ := mc.call("PUT", "/exchanges/amq.direct", map[string]any{"type": "direct", "durable": true})
	assert.Equal(t, 204, st, "redeclaring a predeclared exchange as it is succeeds, as in RabbitMQ")
	st, _ = mc.call("PUT", "/exchanges/amq.topic", nil)
	assert.Equal(t, 409, st, "the default type direct is not amq.topic's")
	st, _ = mc.call("PUT", "/exchanges/amq.fresh", map[string]any{"type": "direct"})
	assert.Equal(t, 403, st)
	st, _ = mc.call("PUT", "/exchanges/", map[string]any{"type": "direct"})
	assert.Equal(t, 403, st, "the default exchange")
	st, _ = mc.call("DELETE", "/exchanges/", nil)
	assert.Equal(t, 403, st, "the default exchange")
	st, _ = mc.call("DELETE", "/exchanges/amq.fanout", nil)
	assert.Equal(t, 403, st)

	st, _ = mc.call("PUT", "/exchanges/x", map[string]any{"type": "topic", "durable": false, "auto_delete": false, "internal": false, "arguments": map[string]any{}})
	require.Equal(t, 204, st)
	st, _ = mc.call("PUT", "/exchanges/x", map[string]any{"type": "topic", "durable": false})
	assert.Equal(t, 204, st, "equivalent")
	for _, inequivalent := range []map[string]any{
		{"type": "topic", "durable": false, "auto_delete": true},
		{"type": "topic", "durable": false, "internal": true},
		{"type": "topic", "durable": true},
		{"type": "fanout", "durable": false},
	} {
		st, body := mc.call("PUT", "/exchanges/x", inequivalent)
		assert.Equal(t, 409, st, "%v: %v", inequivalent, body)
	}
	for _, bad := range []any{map[string]any{"type": 7}, map[string]any{"durable": "no"}, map[string]any{"kind": "topic"}} {
		st, body := mc.call("PUT", "/exchanges/y", bad)
		assert.Equal(t, 400, st, "%v: %v", bad, body)
	}
	st, _ = mc.call("PUT", "/exchanges/"+url.PathEscape("a\rb"), map[string]any{"type": "direct"})
	assert.Equal(t, 400, st)
	st, _ = mc.call("DELETE", "/exchanges/never", nil)
	assert.Equal(t, 204, st, "deleting an exchange that is not there is not an error (RabbitMQ's ensure_deleted)")
}

// Bindings over /management: RabbitMQ's binding object, the default exchange refused on either end,
// malformed locations refused, unbinding idempotent.
func TestManagementBindingDetails(t *testing.T) {
	b := startBroker(t)
	mc := newMgmtClient(t, newSess(t, dial(t, b, nil)))
	st, _ := mc.call("PUT", "/queues/q", nil)
	require.Equal(t, 201, st)
	st, _ = mc.call("PUT", "/exchanges/x", map[string]any{"type": "headers"})
	require.Equal(t, 204, st)
	st, _ = mc.call("PUT", "/exchanges/y", map[string]any{"type": "fanout"})
	require.Equal(t, 204, st)

	args := map[string]any{"x-match": "any", "kind": "a"}
	st, _ = mc.call("POST", "/bindings", map[string]any{"source": "x", "destination_queue": "q", "binding_key": "", "arguments": args})
	require.Equal(t, 204, st)
	st, _ = mc.call("POST", "/bindings", map[string]any{"source": "x", "destination_exchange": "y", "binding_key": "k"})
	require.Equal(t, 204, st)

	st, body := mc.call("GET", "/bindings?src=x&dstq=q&key=", nil)
	require.Equal(t, 200, st)
	list := body.([]any)
	require.Len(t, list, 1)
	assert.Equal(t, "x", field(t, list[0], "source"))
	assert.Equal(t, "q", field(t, list[0], "destination_queue"), "RabbitMQ's name for the destination")
	assert.Equal(t, "", field(t, list[0], "binding_key"))
	assert.Equal(t, "any", field(t, field(t, list[0], "arguments"), "x-match"))
	loc := field(t, list[0], "location").(string)
	assert.True(t, strings.HasPrefix(loc, "/bindings/src=x;dstq=q;key=;args="), loc)
	assert.NotEqual(t, "/bindings/src=x;dstq=q;key=;args=", loc, "arguments are hashed into the location")
	st, body = mc.call("GET", "/bindings?src=x&dste=y&key=k", nil)
	require.Equal(t, 200, st)
	require.Len(t, body.([]any), 1)
	assert.Equal(t, "y", field(t, body.([]any)[0], "destination_exchange"))

	// The default exchange on either end: 403; malformed requests: 400.
	for _, c := range []struct {
		body   map[string]any
		status int
	}{
		{map[string]any{"source": "", "destination_queue": "q", "binding_key": "q"}, 403},
		{map[string]any{"source": "x", "destination_exchange": "", "binding_key": ""}, 403},
		{map[string]any{"destination_queue": "q", "binding_key": ""}, 400},
		{map[string]any{"source": "x", "binding_key": ""}, 400},
		{map[string]any{"source": "x", "destination_queue": "q", "binding_key": 1}, 400},
		{map[string]any{"source": "x", "destination_queue": "q", "routing_key": "k"}, 400},
		{map[string]any{"source": "x", "destination_queue": "q\n", "binding_key": ""}, 400},
	} {
		st, body := mc.call("POST", "/bindings", c.body)
		assert.Equal(t, c.status, st, "%v: %v", c.body, body)
	}
	for _, c := range []struct {
		loc    string
		status int
	}{
		{"/bindings/src=;dstq=q;key=q;args=", 403},
		{"/bindings/src=x;dstq=q;key=", 400},
		{"/bindings/src=x;dstq=q;dste=y;key=;args=", 400},
		{"/bindings/src=x;dstq=q;key=;args=;extra=1", 400},
		{"/bindings/src=x;key=;args=", 400},
		{"/bindings/src=x;dstq=q;key=%zz;args=", 400},
		{"/bindings/garbage", 400},
	} {
		st, body := mc.call("DELETE", c.loc, nil)
		assert.Equal(t, c.status, st, "%s: %v", c.loc, body)
	}

	// Unbinding by the location, twice: 204 both times; with the arguments' hash wrong, nothing goes.
	st, _ = mc.call("DELETE", "/bindings/src=x;dstq=q;key=;args=", nil)
	require.Equal(t, 204, st)
	st, body = mc.call("GET", "/bindings?src=x&dstq=q&key=", nil)
	require.Equal(t, 200, st)
	assert.Len(t, body, 1, "the binding has arguments: a location without their hash does not match it")
	for range 2 {
		st, _ = mc.call("DELETE", loc, nil)
		assert.Equal(t, 204, st)
	}
	st, body = mc.call("GET", "/bindings?src=x&dstq=q&key=", nil)
	require.Equal(t, 200, st)
	assert.Empty(t, body)
}

// Permissions over /management, as RabbitMQ checks them: configure to declare and delete queues and
// exchanges, read to purge, write on the destination and read on the source to bind and unbind (even a
// binding that is not there), and for a dead-letter exchange read on the queue and write on it.
func TestManagementPermissions(t *testing.T) {
	b := startBroker(t, func(o *Options) {
		o.Definitions = &definitions.Definitions{
			Users: []definitions.User{{Name: "app", PasswordHash: rabbitHash("pw")}},
			Permissions: []definitions.Permission{
				{User: "app", Vhost: "/", Configure: "app-.*", Write: "app-.*", Read: "app-.*|amq\\.fanout"},
			},
		}
	})
	admin := newMgmtClient(t, newSess(t, dial(t, b, nil)))
	for _, q := range []string{"app-q", "other"} {
		st, _ := admin.call("PUT", "/queues/"+q, nil)
		require.Equal(t, 201, st)
	}
	st, _ := admin.call("PUT", "/exchanges/other-x", map[string]any{"type": "fanout"})
	require.Equal(t, 204, st)
	st, _ = admin.call("POST", "/bindings", map[string]any{"source": "amq.fanout", "destination_queue": "other", "binding_key": ""})
	require.Equal(t, 204, st)

	c, err := amqp.Dial(testCtx(t), "amqp://"+b.Addr().String(), &amqp.ConnOptions{SASLType: amqp.SASLTypePlain("app", "pw")})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	mc := newMgmtClient(t, newSess(t, c))
	for _, req := range []struct {
		method, path string
		body         any
		status       int
	}{
		{"PUT", "/queues/app-new", nil, 201},
		{"PUT", "/queues/other", nil, 403},
		{"PUT", "/queues/app-dl", map[string]any{"arguments": map[string]any{"x-dead-letter-exchange": "other-x"}}, 403},
		{"PUT", "/queues/app-dl", map[string]any{"arguments": map[string]any{"x-dead-letter-exchange": "app-dlx"}}, 201},
		{"GET", "/queues/other", nil, 200},
		{"DELETE", "/queues/other", nil, 403},
		{"DELETE", "/queues/other/messages", nil, 403},
		{"DELETE", "/queues/app-q/messages", nil, 200},
		{"PUT", "/exchanges/other-y", map[string]any{"type": "direct"}, 403},
		{"PUT", "/exchanges/app-x", map[string]any{"type": "direct"}, 204},
		{"DELETE", "/exchanges/other-x", nil, 403},
		// bind: write on the destination, read on the source
		{"POST", "/bindings", map[string]any{"source": "app-x", "destination_queue": "app-q", "binding_key": "k"}, 204},
		{"POST", "/bindings", map[string]any{"source": "app-x", "destination_queue": "other", "binding_key": "k"}, 403},
		{"POST", "/bindings", map[string]any{"source": "other-x", "destination_queue": "app-q", "binding_key": "k"}, 403},
		{"POST", "/bindings", map[string]any{"source": "amq.fanout", "destination_queue": "app-q", "binding_key": ""}, 204},
		// unbind: the same checks, whether the binding exists or not
		{"DELETE", "/bindings/src=amq.fanout;dstq=other;key=;args=", nil, 403},
		{"DELETE", "/bindings/src=other-x;dstq=app-q;key=none;args=", nil, 403},
		{"DELETE", "/bindings/src=app-x;dstq=app-q;key=k;args=", nil, 204},
		{"DELETE", "/queues/app-new", nil, 200},
	} {
		st, body := mc.call(req.method, req.path, req.body)
		assert.Equal(t, req.status, st, "%s %s: %v", req.method, req.path, body)
	}
	st, body := admin.call("GET", "/bindings?src=amq.fanout&dstq=other&key=", nil)
	require.Equal(t, 200, st)
	assert.Len(t, body, 1, "the refused unbind changed nothing")
}
