package mgmt_test

import (
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/examples/internal/brokertest"
	"github.com/warren-mq/warren/examples/internal/mgmt"
)

func TestClientTopology(t *testing.T) {
	url := brokertest.Start(t)
	ctx := brokertest.Context(t, 20*time.Second)
	sess := brokertest.Session(t, ctx, url)
	c, err := mgmt.New(ctx, sess)
	require.NoError(t, err)

	qi, err := c.DeclareQueue(ctx, "jobs a", mgmt.QueueOptions{Durable: true, Arguments: map[string]any{"x-max-length": int64(5)}})
	require.NoError(t, err)
	assert.Equal(t, mgmt.QueueInfo{Name: "jobs a", Durable: true}, qi)
	_, err = c.DeclareQueue(ctx, "jobs a", mgmt.QueueOptions{Durable: true})
	assert.Equal(t, 409, mgmt.Status(err), "a different declaration conflicts: %v", err)
	_, err = c.GetQueue(ctx, "missing")
	assert.Equal(t, 404, mgmt.Status(err))

	require.NoError(t, c.DeclareExchange(ctx, "events", "topic", mgmt.ExchangeOptions{Durable: true}))
	require.NoError(t, c.Bind(ctx, "events", "jobs a", "job.*"))
	snd, err := sess.NewSender(ctx, mgmt.ExchangeAddress("events", "job.new"), nil)
	require.NoError(t, err)
	require.NoError(t, snd.Send(ctx, amqp.NewMessage([]byte("j1")), nil))
	qi, err = c.GetQueue(ctx, "jobs a")
	require.NoError(t, err)
	assert.Equal(t, uint64(1), qi.MessageCount)

	require.NoError(t, c.Unbind(ctx, "events", "jobs a", "job.*"))
	r, err := snd.SendWithReceipt(ctx, amqp.NewMessage([]byte("j2")), nil)
	require.NoError(t, err)
	state, err := r.Wait(ctx)
	require.NoError(t, err)
	assert.IsType(t, &amqp.StateReleased{}, state, "unbound: the message routes nowhere")

	n, err := c.PurgeQueue(ctx, "jobs a")
	require.NoError(t, err)
	assert.Equal(t, uint64(1), n)
	_, err = c.DeleteQueue(ctx, "jobs a")
	require.NoError(t, err)
	require.NoError(t, c.DeleteExchange(ctx, "events"))
	err = c.DeleteExchange(ctx, "amq.topic")
	var se *mgmt.StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 403, se.Status)
	assert.NotEmpty(t, se.Message)
	require.NoError(t, c.Close(ctx))
}

func TestQueueName(t *testing.T) {
	name, err := mgmt.QueueName("/queues/amq.gen-a%20b")
	require.NoError(t, err)
	assert.Equal(t, "amq.gen-a b", name)
	assert.Equal(t, "/queues/a%20b", mgmt.QueueAddress("a b"))
	assert.Equal(t, "/exchanges/x/a.b", mgmt.ExchangeAddress("x", "a.b"))
	for _, bad := range []string{"orders", "/queues/", "/exchanges/x", "/queues/a/b", "/queues/%zz"} {
		_, err := mgmt.QueueName(bad)
		assert.Error(t, err, bad)
	}
}
