package actors

import (
	"context"
	"errors"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tuner's decisions, on a clock of 50 ms ticks: up (doubling, capped) after procUpWindow at or
// above procUpShare of its Ps; down one P at a time, only after procDownWindow since the last change
// below procDownShare of one P fewer; in between it stays.
func TestProcTunerSteps(t *testing.T) {
	t0 := time.Unix(1000, 0)
	const tick = 50 * time.Millisecond
	p := &procTuner{base: 4, n: 1, changed: t0, hold: procDownWindow, samples: []cpuSample{{at: t0}}}
	at, cpu := t0, time.Duration(0)
	// run feeds ticks at `cores` processors' worth of CPU (step decides; the runtime is left alone);
	// it returns the Ps after each tick.
	run := func(ticks int, cores float64) []int {
		var ns []int
		for range ticks {
			at, cpu = at.Add(tick), cpu+time.Duration(cores*float64(tick))
			ns = append(ns, p.step(cpuSample{at: at, cpu: cpu}))
		}
		return ns
	}
	// steps: k ticks at a, then at b, 40 ticks in all (procDownWindow).
	steps := func(a, k, b int) []int {
		ns := make([]int, 40)
		for i := range ns {
			ns[i] = b
			if i < k {
				ns[i] = a
			}
		}
		return ns
	}
	assert.Equal(t, []int{1, 1, 1, 1, 1, 1, 1, 1}, run(8, 0.8), "below procUpShare of one P: one P")
	assert.Equal(t, steps(1, 40, 1), run(40, 0), "idle: one P")
	assert.Equal(t, []int{1, 1, 1, 1, 2}, run(5, 0.95), "saturated for procUpWindow: twice the Ps")
	assert.Equal(t, []int{2, 2, 2, 2, 4}, run(5, 1.9), "after a change, a whole window at the new count")
	assert.Equal(t, []int{4, 4, 4, 4, 4, 4, 4, 4, 4, 4}, run(10, 3.9), "capped at base")
	assert.Equal(t, steps(4, 40, 4), run(40, 2.5), "not below procDownShare of 3 processors")
	// Once the last 2 s average below 0.75 × 3 (tick 21): one P fewer.
	assert.Equal(t, steps(4, 20, 3), run(40, 2.0), "below procDownShare of one P fewer")
	// The next step down waits procDownWindow after the last one, then finds 2 s below 0.75 × 2.
	assert.Equal(t, steps(3, 20, 2), run(40, 1.0), "one P at a time, procDownWindow apart")
	assert.Equal(t, steps(2, 40, 2), run(40, 0.8), "0.8 of 2 Ps is not below 0.75 × 1: the band between down and up")
	assert.Equal(t, steps(2, 2, 1), run(40, 0.1), "quiet: back to one P")
	assert.LessOrEqual(t, len(p.samples), int(procDownWindow/tick)+2, "samples are bounded by the longer window")

	// A load between the two thresholds' reach: saturating one P, and under 0.75 of one with two.
	// The first step back up within procFlapWindow of a step down doubles the hold.
	run(100, 0) // quiet, and the last step down has held: the hold is back at procDownWindow
	require.Equal(t, procDownWindow, p.hold)
	assert.Equal(t, 2, run(5, 0.9)[4], "saturated: up")
	assert.Equal(t, 1, run(40, 0.7)[39], "under 0.75 of one P for procDownWindow: down")
	assert.Equal(t, 2, run(5, 0.9)[4], "saturated again at once: up")
	assert.Equal(t, 2*procDownWindow, p.hold, "a flap doubles the hold")
	assert.Equal(t, steps(2, 40, 2), run(40, 0.7), "held for 4 s now, not 2")
	assert.Equal(t, steps(2, 39, 1), run(40, 0.7), "down after the longer hold")
	run(99, 0.5) // a step down that lasts procFlapWindow (100 ticks) halves the hold again
	assert.Equal(t, 2*procDownWindow, p.hold)
	run(1, 0.5)
	assert.Equal(t, procDownWindow, p.hold)
	for range 10 { // flapping over and over: the hold stops growing at procMaxHold
		run(5, 0.95)
		for i := 0; p.n == 2; i++ {
			require.Less(t, i, int(procMaxHold/tick)+1, "down within procMaxHold")
			run(1, 0.5)
		}
	}
	assert.Equal(t, procMaxHold, p.hold)
}

// A broker with TuneProcs runs on one P while that is enough, gets more once load saturates it, goes
// back to one when the load stops, and puts GOMAXPROCS back at Shutdown. With GOMAXPROCS in the
// environment, or on one processor, it leaves GOMAXPROCS alone throughout.
func TestTuneProcsFollowsLoadAndRestores(t *testing.T) {
	_, env := os.LookupEnv("GOMAXPROCS")
	base := runtime.GOMAXPROCS(0)
	quiet, busy := 1, min(2, base)
	if env || base == 1 {
		quiet, busy = base, base
	}
	b := startBroker(t, func(o *Options) { o.TuneProcs = true })
	defer runtime.GOMAXPROCS(base) // whatever happens to the assertions
	require.Eventually(t, func() bool { return runtime.GOMAXPROCS(0) == quiet }, 5*time.Second, 10*time.Millisecond,
		"an idle broker runs on %d P", quiet)

	// Load: pre-settled messages as fast as one producer sends them, into a consumer on another
	// connection. The whole process (clients and broker) then keeps its one P busy.
	snd := sender(t, newSess(t, dial(t, b, nil)), "proctune", &amqp.SenderOptions{SettlementMode: amqp.SenderSettleModeSettled.Ptr()})
	rcv := receiver(t, newSess(t, dial(t, b, nil)), "proctune", &amqp.ReceiverOptions{Credit: 200})
	stop := make(chan struct{})
	drained := make(chan struct{})
	var stopOnce sync.Once
	halt := func() { stopOnce.Do(func() { close(stop) }); <-drained }
	defer halt() // also when an assertion below fails
	go func() {
		defer close(drained)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			_, err := rcv.Receive(ctx, nil)
			cancel()
			select {
			case <-stop:
				return
			default:
			}
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				return // the link failed: the sender's assertions report it
			}
		}
	}()
	body := make([]byte, 4<<10)
	deadline := time.Now().Add(20 * time.Second)
	for sent := 0; sent < 2000 || runtime.GOMAXPROCS(0) != busy; sent++ {
		require.True(t, time.Now().Before(deadline), "GOMAXPROCS is %d under load, want %d", runtime.GOMAXPROCS(0), busy)
		require.NoError(t, snd.Send(testCtx(t), amqp.NewMessage(body), nil))
	}
	halt()
	require.Eventually(t, func() bool { return runtime.GOMAXPROCS(0) == quiet }, 10*time.Second, 20*time.Millisecond,
		"back to %d P once the load stops", quiet)
	require.NoError(t, b.Shutdown(testCtx(t))) // Shutdown is idempotent: startBroker's cleanup finds it done
	assert.Equal(t, base, runtime.GOMAXPROCS(0), "GOMAXPROCS is put back at Shutdown")
}
