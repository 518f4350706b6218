package actors

import (
	"os"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func gogcPercent() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}

// The tuner's decision: busy from the first tick at or above gcBusyAllocRate; quiet again only after
// gcQuietAfter below it; a busy tick in between starts the quiet time over.
func TestGCTunerSteps(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tick := 50 * time.Millisecond
	perTick := uint64(gcBusyAllocRate/20 + 1) // just the busy rate at 50 ms ticks
	g := &gcTuner{lastAt: t0}                 // tuneGOGC false: decisions only, the runtime is left alone
	allocs := uint64(0)
	at := t0
	advance := func(bytes uint64) {
		at, allocs = at.Add(tick), allocs+bytes
		g.step(at, allocs, 0)
	}
	advance(perTick / 4)
	assert.False(t, g.on, "a quiet tick")
	advance(perTick)
	assert.True(t, g.on, "a busy tick")
	for range 10 { // half of gcQuietAfter
		advance(0)
	}
	assert.True(t, g.on, "not quiet for long enough yet")
	advance(2 * perTick) // busy again: the quiet time starts over
	for range 19 {
		advance(0)
	}
	assert.True(t, g.on)
	advance(0)
	advance(0)
	assert.False(t, g.on, "quiet for gcQuietAfter")
	assert.Equal(t, 2, g.transitions)
}

// While busy, GOGC follows the live heap: 400 while that leaves at most gcBusyHeadroom of garbage,
// halved while it would leave more, never below the quiet value; going quiet puts that back.
func TestGCTunerCapsHeadroom(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tick := 50 * time.Millisecond
	perTick := uint64(gcBusyAllocRate/20 + 1)
	g := &gcTuner{base: 100, lastAt: t0}
	allocs, at := uint64(0), t0
	busyTick := func(live uint64) int {
		at, allocs = at.Add(tick), allocs+perTick
		g.step(at, allocs, live)
		require.True(t, g.on)
		return g.percent
	}
	const mib = 1 << 20
	assert.Equal(t, 400, busyTick(4*mib), "a small live heap: 16 MiB of garbage at most")
	assert.Equal(t, 400, busyTick(gcBusyHeadroom/4), "exactly the headroom at 400")
	assert.Equal(t, 200, busyTick(gcBusyHeadroom/4+mib))
	assert.Equal(t, 100, busyTick(gcBusyHeadroom/2+mib))
	assert.Equal(t, 100, busyTick(2*gcBusyHeadroom), "never below the quiet value")
	assert.Equal(t, 400, busyTick(4*mib), "back up as the live heap shrinks")
	assert.Equal(t, 1, g.transitions, "changing the busy GOGC is not a transition")
	for range 22 { // gcQuietAfter and a tick
		at = at.Add(tick)
		g.step(at, allocs, 4*mib)
	}
	assert.False(t, g.on)
	assert.Equal(t, 2, g.transitions)

	low := &gcTuner{base: 50, lastAt: t0}
	low.step(t0.Add(tick), perTick, 10*gcBusyHeadroom)
	assert.Equal(t, 50, low.percent, "a quiet value below 100 is the floor")
}

// A broker with TuneGC sets the memory limit to its high-water mark while it runs, raises GOGC while
// messages flow, and puts both back at Shutdown. With GOGC or GOMEMLIMIT in the environment, that
// part is left as it was, under load too.
func TestTuneGCRaisesGOGCUnderLoadAndRestores(t *testing.T) {
	_, gogcEnv := os.LookupEnv("GOGC")
	_, limitEnv := os.LookupEnv("GOMEMLIMIT")
	baseGOGC, baseLimit := gogcPercent(), debug.SetMemoryLimit(-1)
	const mark = 3 << 30
	wantGOGC, wantLimit := gcBusyPercent, int64(mark)
	if gogcEnv {
		wantGOGC = baseGOGC
	}
	if limitEnv {
		wantLimit = baseLimit
	}
	b := startBroker(t, func(o *Options) { o.TuneGC, o.Limits.MemoryHighWatermark = true, mark })
	// The tuner starts with the broker's memory alarm goroutine.
	require.Eventually(t, func() bool { return debug.SetMemoryLimit(-1) == wantLimit }, 5*time.Second, 10*time.Millisecond)

	// A bare address names a queue created on attach, as in BenchmarkE2E.
	snd := sender(t, newSess(t, dial(t, b, nil)), "gctune", &amqp.SenderOptions{SettlementMode: amqp.SenderSettleModeSettled.Ptr()})
	rcv := receiver(t, newSess(t, dial(t, b, nil)), "gctune", &amqp.ReceiverOptions{Credit: 100})
	body := make([]byte, 64<<10)
	deadline := time.Now().Add(20 * time.Second)
	// Until GOGC is what it should be under load, and at least 1,000 messages (64 MiB) in any case.
	for sent := 0; sent < 1000 || gogcPercent() != wantGOGC; sent++ {
		require.True(t, time.Now().Before(deadline), "GOGC is %d under load, want %d", gogcPercent(), wantGOGC)
		require.NoError(t, snd.Send(testCtx(t), amqp.NewMessage(body), nil))
		m, err := rcv.Receive(testCtx(t), nil)
		require.NoError(t, err)
		require.NoError(t, rcv.AcceptMessage(testCtx(t), m))
	}
	assert.Equal(t, wantLimit, debug.SetMemoryLimit(-1))
	require.NoError(t, b.Shutdown(testCtx(t))) // Shutdown is idempotent: startBroker's cleanup finds it done
	assert.Equal(t, baseGOGC, gogcPercent(), "GOGC is put back at Shutdown")
	assert.Equal(t, baseLimit, debug.SetMemoryLimit(-1), "the memory limit is put back at Shutdown")
}
