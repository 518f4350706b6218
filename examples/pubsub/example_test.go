package main

import (
	"strings"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/examples/internal/brokertest"
	"github.com/warren-mq/warren/examples/internal/mgmt"
)

func TestPubsub(t *testing.T) {
	url := brokertest.Start(t)
	ctx := brokertest.Context(t, 20*time.Second)
	var out strings.Builder
	require.NoError(t, run(ctx, url, &out))
	assert.Equal(t, `subscriber 1: temporary queue bound to "logs"
subscriber 2: temporary queue bound to "logs"
subscriber 3: temporary queue bound to "logs"
published 3 messages to /exchanges/logs
subscriber 1 got: info: service started | warning: disk 91% full | error: cannot reach the database
subscriber 2 got: info: service started | warning: disk 91% full | error: cannot reach the database
subscriber 3 got: info: service started | warning: disk 91% full | error: cannot reach the database
`, out.String())

	// The temporary queues went with their links: the exchange routes nowhere now.
	sess := brokertest.Session(t, ctx, url)
	snd, err := sess.NewSender(ctx, mgmt.ExchangeAddress(exchange, ""), nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		r, err := snd.SendWithReceipt(ctx, amqp.NewMessage([]byte("anyone?")), nil)
		if err != nil {
			return false
		}
		state, err := r.Wait(ctx)
		_, released := state.(*amqp.StateReleased)
		return err == nil && released
	}, 5*time.Second, 20*time.Millisecond)
}
