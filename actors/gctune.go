package actors

import (
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// gcTuner (Options.TuneGC) gives the garbage collector more room while the broker is busy and takes
// it back when the broker is quiet.
//
// Why: Warren's live heap is small (a few MiB plus the queued messages), so at Go's default GOGC=100
// a broker moving tens of thousands of messages a second collects ten or more times a second, and
// profiles put 6–10 % of its CPU in the GC. A higher GOGC collects less often but lets the heap grow
// further past what is live, and raises the minimum heap (4 MiB × GOGC/100) that an idle broker
// grows to. So GOGC is raised only while the allocation rate says the broker is busy, and the
// memory limit is set to the memory alarm's high-water mark: however far GOGC lets the heap run, the
// GC collects before garbage alone could reach the mark (the alarm counts heap objects, garbage
// included), so the alarm still means live messages.
//
// Measured with examples/loadtest/compare/ab.sh (see BENCHMARKS.md, fourth pass). Written here because
// it is a policy over runtime/debug, not something a library provides.
//
// A GOGC or GOMEMLIMIT set in the environment is the operator's choice and is left alone.
type gcTuner struct {
	base        int  // the GC percent when quiet: what was set before
	tuneGOGC    bool // false when GOGC is in the environment
	prevLimit   int64
	setLimit    bool // false when GOMEMLIMIT is in the environment
	sample      []metrics.Sample
	lastAllocs  uint64
	lastAt      time.Time
	on          bool
	percent     int // GOGC while on: busyPercent of the live heap at the last tick
	quietSince  time.Time
	transitions int // how often busy was switched on or off (tests)
}

const (
	// gcBusyPercent is GOGC while busy. At 400, confirmed and durable transfers took 2–16 % less
	// CPU per message than at 100 (ab.sh, BENCHMARKS.md); the heap then runs up to five times what
	// is live, bounded by the memory limit.
	gcBusyPercent = 400
	// gcBusyHeadroom caps the garbage a raised GOGC lets the heap run to past what is live: GOGC is
	// halved, down to the quiet value, while live × GOGC/100 would exceed it. A broker with a small
	// live heap (tens of connections, a short backlog) keeps 400 and its lower GC cost; with a large
	// one (a thousand connections hold 64 KiB read buffers each) GC cycles are rare at the default
	// GOGC anyway, and 400 had doubled RSS under load (BENCHMARKS.md, sixth pass).
	gcBusyHeadroom = 64 << 20
	// gcBusyAllocRate is the allocation rate, in bytes a second, from which the broker counts as
	// busy: a few thousand messages a second. An idle broker stays far below it (its idle RSS did
	// not change with the tuner: BENCHMARKS.md, fourth pass).
	gcBusyAllocRate = 16 << 20
	// gcQuietAfter is how long the rate must stay below gcBusyAllocRate before GOGC goes back.
	gcQuietAfter = time.Second
)

func newGCTuner(highWater uint64) *gcTuner {
	t := &gcTuner{sample: []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/gc/heap/live:bytes"}}}
	_, gogcSet := os.LookupEnv("GOGC")
	_, limitSet := os.LookupEnv("GOMEMLIMIT")
	t.tuneGOGC, t.setLimit = !gogcSet, !limitSet
	now := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(now)
	t.base = int(now[0].Value.Uint64())
	if t.base <= 0 { // the GC was switched off in code (SetGCPercent(-1)): not ours to change
		t.tuneGOGC = false
	}
	if t.setLimit && highWater > 0 && highWater < 1<<62 {
		t.prevLimit = debug.SetMemoryLimit(int64(highWater))
	} else {
		t.setLimit = false
	}
	metrics.Read(t.sample)
	t.lastAllocs, t.lastAt = t.sample[0].Value.Uint64(), time.Now()
	return t
}

// observe samples the allocation rate (the memory alarm's ticker calls it) and switches GOGC.
func (t *gcTuner) observe(now time.Time) {
	metrics.Read(t.sample)
	t.step(now, t.sample[0].Value.Uint64(), t.sample[1].Value.Uint64())
}

// step is observe's decision, given the allocation counter and the live heap (as the last GC
// marked it) read at now.
func (t *gcTuner) step(now time.Time, allocs, live uint64) {
	dt := now.Sub(t.lastAt)
	if dt <= 0 {
		return
	}
	rate := float64(allocs-t.lastAllocs) / dt.Seconds()
	t.lastAllocs, t.lastAt = allocs, now
	busy := rate >= gcBusyAllocRate
	switch {
	case busy:
		t.quietSince = time.Time{}
		if p := t.busyPercent(live); !t.on || p != t.percent {
			t.percent = p
			t.set(true)
		}
	case t.on && t.quietSince.IsZero():
		t.quietSince = now
	case t.on && now.Sub(t.quietSince) >= gcQuietAfter:
		t.set(false)
	}
}

// busyPercent is GOGC while busy for a live heap of live bytes (gcBusyHeadroom).
func (t *gcTuner) busyPercent(live uint64) int {
	p := gcBusyPercent
	for p > t.base && live*uint64(p)/100 > gcBusyHeadroom {
		p /= 2
	}
	return max(p, t.base)
}

// set switches GOGC to t.percent (on) or back to the quiet value.
func (t *gcTuner) set(on bool) {
	if on != t.on {
		t.transitions++
	}
	t.on = on
	if !t.tuneGOGC {
		return
	}
	if on {
		debug.SetGCPercent(t.percent)
	} else {
		debug.SetGCPercent(t.base)
	}
}

// restore puts back what the tuner changed (Broker.Shutdown: the process may go on without a broker).
func (t *gcTuner) restore() {
	if t.on {
		t.set(false)
	}
	if t.setLimit {
		debug.SetMemoryLimit(t.prevLimit)
	}
}
