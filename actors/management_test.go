package actors

import (
	"fmt"
	"net/url"
	"strconv"
	"testing"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
