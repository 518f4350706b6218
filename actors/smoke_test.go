package actors

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSmokeSendReceiveBareQueue(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b, nil)
	s := newSess(t, c)
	snd := sender(t, s, "orders", nil)
	send(t, snd, "hello")
	r := receiver(t, s, "orders", nil)
	m := recv(t, r)
	require.NoError(t, r.AcceptMessage(testCtx(t), m))
	assert.Equal(t, "hello", string(m.GetData()))
	assert.Equal(t, "", m.Annotations["x-exchange"])
	assert.Equal(t, "orders", m.Annotations["x-routing-key"])
}
