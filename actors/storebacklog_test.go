package actors

import (
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The store backlog holds a queue at its limit and wakes it once at half the limit. Then holds and
// the completion that ends the backlog race, 2,000 times: every hold gets its wake-up, and under
// -race (CI) the two sides are checked for data races. (A lost wake-up would need the completion to
// land within a few instructions of holds' last check, which this loop cannot be relied on to hit:
// holds registers the queue before that check so that no interleaving loses it.)
func TestStoreBacklogHoldsAndWakes(t *testing.T) {
	sys := actor.NewActorSystem()
	t.Cleanup(sys.Shutdown)
	woken := make(chan struct{}, 1000)
	pid := sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(storeCaughtUp); ok {
			woken <- struct{}{}
		}
	}))
	noWake := func(msg string) {
		select {
		case <-woken:
			t.Fatal(msg)
		case <-time.After(50 * time.Millisecond):
		}
	}

	s := newStoreBacklog(100)
	s.submitted(99)
	assert.False(t, s.holds(pid), "below the limit")
	s.submitted(1)
	require.True(t, s.holds(pid), "at the limit")
	s.done(40, sys)
	noWake("woken above half the limit")
	s.done(10, sys)
	select {
	case <-woken:
	case <-time.After(5 * time.Second):
		t.Fatal("not woken at half the limit")
	}
	s.done(50, sys)
	noWake("woken twice")
	assert.Zero(t, s.pending.Load())

	for round := range 2000 {
		s.submitted(100)
		var held bool
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Add(2)
		go func() { defer wg.Done(); <-start; held = s.holds(pid) }()
		go func() { defer wg.Done(); <-start; s.done(100, sys) }()
		close(start)
		wg.Wait()
		if held {
			select {
			case <-woken:
			case <-time.After(5 * time.Second):
				t.Fatalf("round %d: held and never woken", round)
			}
		}
	}
}
