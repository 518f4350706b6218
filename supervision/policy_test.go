package supervision

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestSupervisionKindOf(t *testing.T) {
	cases := map[string]Kind{
		"warren/vhost-%2F":                  Vhost,
		"warren/vhost-%2F/x-amq.topic":      Exchange,
		"warren/vhost-%2F/q-orders":         Queue,
		"warren/conn-3":                     Connection,
		"warren/conn-3/s0-1":                Session,
		"warren/conn-3/s0-1/l2-5":           Link,
		"warren":                            Other,
		"warren/vhost-%2F/q-with%2Fslash-7": Queue,
		// an extension front keeps the exchange's raw name, which may hold a '/'
		"warren/vhost-%2F/x-a/b-front-3": Exchange,
		// names are read at their place in the tree, not by their first letter alone
		"warren/vhost-%2F/s1-2":       Other,
		"warren/vhost-%2F/q-x/l1-2":   Other,
		"warren/lonely-1":             Other,
		"warren/conn-3/q-x":           Other,
		"warren/conn-3/s0-1/l2-5/x-9": Other,
		"warren/conn-3/s0-1/q-x":      Other,
		"warren/vhost-%2F/q-x-1/x":    Other,
	}
	for id, want := range cases {
		assert.Equal(t, want, KindOf(id), id)
	}
}

func TestSupervisionDecide(t *testing.T) {
	d, giveUp, delay := Decide(Link, 1)
	assert.Equal(t, Stop, d)
	assert.False(t, giveUp)
	assert.Zero(t, delay)

	d, giveUp, delay = Decide(Queue, 1)
	assert.Equal(t, Restart, d)
	assert.False(t, giveUp)
	assert.Zero(t, delay, "the first restart is immediate")
	_, _, delay = Decide(Queue, 3)
	assert.Equal(t, 20*time.Millisecond, delay, "backoff doubles")
	_, _, delay = Decide(Queue, 5)
	assert.Equal(t, 80*time.Millisecond, delay)
	d, giveUp, _ = Decide(Queue, 6)
	assert.Equal(t, Stop, d)
	assert.True(t, giveUp, "past MaxFailures the queue is given up")
}

func TestFaults(t *testing.T) {
	var none *Faults
	assert.NotPanics(t, func() { none.Check("warren/conn-1", struct{}{}) })

	f := NewFaults()
	f.Inject(Queue, "orders", "*supervision.rule", 1)
	assert.NotPanics(t, func() { f.Check("warren/vhost-%2F/q-other", &rule{}) }, "other queue")
	assert.NotPanics(t, func() { f.Check("warren/vhost-%2F/q-orders", "a string") }, "other message type")
	assert.PanicsWithValue(t, InjectedPanic{Actor: "warren/vhost-%2F/q-orders", Message: "*supervision.rule"},
		func() { f.Check("warren/vhost-%2F/q-orders", &rule{}) })
	assert.NotPanics(t, func() { f.Check("warren/vhost-%2F/q-orders", &rule{}) }, "used up")
	f.Inject("", "", "", -1)
	assert.Panics(t, func() { f.Check("anything", 1) })
	f.Clear()
	assert.NotPanics(t, func() { f.Check("anything", 1) })
}
