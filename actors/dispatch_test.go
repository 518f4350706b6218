package actors

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Scheduling never waits for a free worker: 50 turns that all block run at once, the workers that
// finish park up to the bound and the rest exit; close ends the parked ones.
func TestWarmDispatcherBoundsParkedWorkers(t *testing.T) {
	base := runtime.NumGoroutine()
	d := newWarmDispatcher(300, 8)
	release := make(chan struct{})
	var running, ran sync.WaitGroup
	running.Add(50)
	ran.Add(50)
	for range 50 {
		d.Schedule(func() {
			running.Done()
			<-release
			ran.Done()
		})
	}
	running.Wait() // all 50 are running concurrently: none waited for another
	close(release)
	ran.Wait()
	waitGoroutines(t, base+8, "at most maxParked workers stay")
	assert.LessOrEqual(t, d.parked.Load(), int32(8))

	// A parked worker takes the next turn, which runs to completion.
	var n atomic.Int32
	done := make(chan struct{})
	d.Schedule(func() { n.Add(1); close(done) })
	<-done
	assert.Equal(t, int32(1), n.Load())

	d.close()
	waitGoroutines(t, base, "close ends every parked worker")
	// After close a turn still runs (shutdown stragglers), on a goroutine that then exits.
	late := make(chan struct{})
	d.Schedule(func() { close(late) })
	<-late
	waitGoroutines(t, base, "a turn after close leaves no worker behind")
}

// waitGoroutines polls from the test's own goroutine (require.Eventually would add one of its own).
func waitGoroutines(t *testing.T, max int, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > max {
		if time.Now().After(deadline) {
			require.FailNowf(t, what, "%d goroutines, want at most %d", runtime.NumGoroutine(), max)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
