package actors

import (
	"errors"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An exclusive queue belongs to the connection that declared it: only it may consume (another
// connection's attach is refused with amqp:resource-locked, as RabbitMQ does), anyone may publish, and
// the queue goes when its owner closes.
func TestExclusiveQueueIsLockedToItsConnection(t *testing.T) {
	b := startBroker(t)
	ownerConn := dial(t, b, nil)
	owner := newSess(t, ownerConn)
	ok2xx(t, newMgmtClient(t, owner), "PUT", "/queues/mine", map[string]any{"durable": false, "exclusive": true})
	r := receiver(t, owner, "/queues/mine", nil)

	other := newSess(t, dial(t, b, nil))
	send(t, sender(t, other, "/queues/mine", nil), "from another connection")
	assert.Equal(t, "from another connection", string(recv(t, r).GetData()))
	_, err := other.NewReceiver(testCtx(t), "/queues/mine", nil)
	var ae *amqp.Error
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, amqp.ErrCond("amqp:resource-locked"), ae.Condition)

	require.NoError(t, ownerConn.Close())
	require.Eventually(t, func() bool {
		_, err := other.NewReceiver(testCtx(t), "/queues/mine", nil)
		return errors.As(err, &ae) && ae.Condition == "amqp:not-found"
	}, 5*time.Second, 20*time.Millisecond, "the queue went with its owner")
}
