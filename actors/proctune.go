package actors

import (
	"os"
	"runtime"
	"time"
)

// procTuner (Options.TuneProcs) runs the broker on as many Ps (GOMAXPROCS) as it keeps busy: one while
// one processor's worth of work is enough, more as soon as the broker saturates what it has.
//
// Why: each hop between actors readies a goroutine. With an idle P about, the Go scheduler wakes
// another OS thread for it (futex, and on a virtual machine an inter-processor interrupt) and that
// thread spins looking for more work before it sleeps again; with a single P the readied goroutine
// waits in the P's run queue and runs next on the same thread. On the 2-core machine of BENCHMARKS.md,
// shared with the load tool, one P took 7–25 % less CPU per message than two, at about the same
// throughput or more (fifth pass). A broker that needs more than one processor gets more, within
// 250 ms of saturating, up to the GOMAXPROCS the process started with.
//
// Busy is the process's own CPU time (getrusage): Go's runtime/metrics CPU classes are only updated
// at garbage collections. Written here because it is a policy over runtime.GOMAXPROCS; no library
// provides one. A GOMAXPROCS in the environment is the operator's choice and is left alone. While the
// tuner runs, the runtime no longer follows a change of the container's CPU limit by itself (setting
// GOMAXPROCS turns that off); the most Ps it gives is the limit when the broker started.
type procTuner struct {
	base     int // GOMAXPROCS before the tuner started: the most Ps it gives, put back at restore
	n        int // Ps now
	samples  []cpuSample
	changed  time.Time     // when n last changed
	hold     time.Duration // how long after a change n may go down
	lastDown time.Time     // when n last went down, until that step has held for procFlapWindow
}

type cpuSample struct {
	at  time.Time
	cpu time.Duration // the process's CPU time (user + system) at `at`
}

const (
	// procUpShare: more Ps once the last procUpWindow used this share of n processors.
	procUpShare  = 0.85
	procUpWindow = 250 * time.Millisecond
	// procDownShare: one P fewer once the last procDownWindow used less than this share of n−1
	// processors. Far below procUpShare because more Ps cost more CPU for the same work (the reason
	// for the tuner): the step down must not bring the broker straight back to the step up.
	procDownShare  = 0.75
	procDownWindow = 2 * time.Second
	// A load that needs about what n−1 Ps give still flaps between them: 1,000 connections on this
	// VM went 1 → 2 → 1 → 2 Ps within 5 s. A step up within procFlapWindow of a step down doubles
	// the hold before the next step down (up to procMaxHold); a step down that lasts halves it again.
	procFlapWindow = 5 * time.Second
	procMaxHold    = time.Minute
)

// newProcTuner starts the broker on one P; nil when there is nothing to tune (one processor, the
// environment's GOMAXPROCS, or no process CPU clock on this system).
func newProcTuner(now time.Time) *procTuner {
	if _, set := os.LookupEnv("GOMAXPROCS"); set {
		return nil
	}
	cpu, ok := processCPU()
	if !ok {
		return nil
	}
	base := runtime.GOMAXPROCS(0)
	if base <= 1 {
		return nil
	}
	runtime.GOMAXPROCS(1)
	return &procTuner{base: base, n: 1, changed: now, hold: procDownWindow,
		samples: []cpuSample{{at: now, cpu: cpu}}}
}

// observe samples the process's CPU time (the memory alarm's ticker calls it) and changes GOMAXPROCS;
// it returns the Ps before and after.
func (t *procTuner) observe(now time.Time) (from, to int) {
	from = t.n
	if cpu, ok := processCPU(); ok {
		if to = t.step(cpuSample{at: now, cpu: cpu}); to != from {
			runtime.GOMAXPROCS(to)
		}
	}
	return from, t.n
}

// step records a sample and returns the number of Ps wanted from now on.
func (t *procTuner) step(s cpuSample) int {
	t.samples = append(t.samples, s)
	// Keep what the longer window needs: the newest sample at least procDownWindow old, and after it.
	keep := 0
	for i := range t.samples {
		if s.at.Sub(t.samples[i].at) >= procDownWindow {
			keep = i
		}
	}
	t.samples = t.samples[keep:]
	n := t.want(s)
	switch {
	case n != t.n:
		if n > t.n && !t.lastDown.IsZero() && s.at.Sub(t.lastDown) < procFlapWindow {
			t.hold = min(2*t.hold, procMaxHold) // stepped down too soon: wait longer next time
		}
		t.lastDown = time.Time{}
		if n < t.n {
			t.lastDown = s.at
		}
		t.n, t.changed = n, s.at
	case !t.lastDown.IsZero() && s.at.Sub(t.lastDown) >= procFlapWindow:
		t.hold = max(t.hold/2, procDownWindow) // the last step down held
		t.lastDown = time.Time{}
	}
	return t.n
}

func (t *procTuner) want(s cpuSample) int {
	if used, ok := t.used(s, procUpWindow); ok && used >= procUpShare*float64(t.n) && t.n < t.base {
		return min(2*t.n, t.base) // saturated: double at once rather than creep up a P at a time
	}
	if t.n > 1 && s.at.Sub(t.changed) >= t.hold {
		if used, ok := t.used(s, procDownWindow); ok && used < procDownShare*float64(t.n-1) {
			return t.n - 1
		}
	}
	return t.n
}

// used is the processors' worth of CPU the process used over the window before s (false: the samples
// do not reach back that far, or not since the last change).
func (t *procTuner) used(s cpuSample, window time.Duration) (float64, bool) {
	for i := len(t.samples) - 1; i >= 0; i-- {
		old := t.samples[i]
		if d := s.at.Sub(old.at); d >= window {
			if old.at.Before(t.changed) {
				return 0, false // the window starts before the last change: it measured another n
			}
			return float64(s.cpu-old.cpu) / float64(d), true
		}
	}
	return 0, false
}

// restore puts GOMAXPROCS back (Broker.Shutdown: the process may go on without a broker).
func (t *procTuner) restore() {
	if t.n != t.base {
		runtime.GOMAXPROCS(t.base)
		t.n = t.base
	}
}
