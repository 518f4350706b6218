package actors

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// The memory alarm (RabbitMQ's, but per link): when the broker's Go memory passes the high-water mark,
// producer links stop getting credit — consumers keep flowing, so queues drain and memory falls — and
// when it drops below again, starved links get their credit back. Backpressure stays AMQP's own: link
// credit (DESIGN.md §1), never a blocked mailbox.

// memoryAlarm is owned by the Broker; its goroutine samples memory every memorySampleEvery. It also
// keeps the broker's other alarms (actors given up after repeated failures) for Broker.Alarms.
type memoryAlarm struct {
	b         *Broker
	highWater uint64
	mu        sync.Mutex
	on        bool
	onSince   time.Time
	used      uint64       // heap bytes at the last change
	starved   []*actor.PID // receiver links waiting for credit
	raised    []Alarm      // given-up actors, in the order they were given up

	tuneGC    bool       // Options.TuneGC
	tuneProcs bool       // Options.TuneProcs
	gc        *gcTuner   // run's, while it runs: set up when the broker has started, put back when it stops
	procs     *procTuner // the same, for Options.TuneProcs (nil: not tuning)

	sampleMu   sync.Mutex
	sample     []metrics.Sample
	lastSample atomic.Int64 // time.Since(memoryEpoch) at the last sample
}

const memorySampleEvery = 50 * time.Millisecond

// memorySampleOnGrant is how stale the last sample may be when a producer link is about to be granted
// credit before that grant samples memory itself. The ticker alone let a fast producer of large
// messages run tens of MiB past the mark between two ticks; a grant is made once per half a link's
// credit, so this costs one runtime/metrics read (about a microsecond) per millisecond at most.
const memorySampleOnGrant = time.Millisecond

// creditResume tells a starved receiver link that it may grant credit again.
type creditResume struct{}

func newMemoryAlarm(b *Broker, highWater uint64) *memoryAlarm {
	if highWater == 0 {
		highWater = defaultHighWater()
	}
	return &memoryAlarm{b: b, highWater: highWater, sample: []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}}
}

// sampleNow reads the heap and raises or clears the alarm. The result is applied under sampleMu, so
// samples take effect in the order they were read (an older one can never undo a newer one).
func (m *memoryAlarm) sampleNow() {
	m.sampleMu.Lock()
	m.sampleLocked()
	m.sampleMu.Unlock()
}

// sampleIfStale is a credit grant's sample: only when the last one is memorySampleOnGrant old, and
// only by one grant at a time (the others go on with the sample being taken).
func (m *memoryAlarm) sampleIfStale() {
	if time.Since(memoryEpoch)-time.Duration(m.lastSample.Load()) < memorySampleOnGrant || !m.sampleMu.TryLock() {
		return
	}
	m.sampleLocked()
	m.sampleMu.Unlock()
}

func (m *memoryAlarm) sampleLocked() {
	metrics.Read(m.sample)
	used := m.sample[0].Value.Uint64()
	m.lastSample.Store(int64(time.Since(memoryEpoch)))
	m.set(used >= m.highWater, used)
}

// memoryEpoch makes lastSample a monotonic reading (time.Since uses the monotonic clock).
var memoryEpoch = time.Now()

// defaultHighWater is 40 % of the memory the broker may use, as RabbitMQ's vm_memory_high_watermark.
func defaultHighWater() uint64 { return availableMemory("/") * 4 / 10 }

// availableMemory is the machine's memory (MemTotal) or, when the process runs in a cgroup with a lower
// memory limit (a container), that limit: past it the kernel kills the broker long before 40 % of the
// host's memory is reached. Paths are read under root (a test points it at a fake tree). Without
// /proc/meminfo (not Linux) it is 2.5 GiB, so the default mark is 1 GiB.
func availableMemory(root string) uint64 {
	const fallback = 5 << 29
	total := uint64(0)
	if f, err := os.Open(filepath.Join(root, "proc/meminfo")); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
				if kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64); err == nil {
					total = kb * 1024
				}
				break
			}
		}
		_ = f.Close()
	}
	if total == 0 {
		total = fallback
	}
	for _, limit := range cgroupMemoryLimits(root) {
		total = min(total, limit)
	}
	return total
}

// cgroupMemoryLimits reads the memory limits of the process's cgroup (v2 memory.max, v1
// memory.limit_in_bytes), at the cgroup's own path and at the mount's root (as a container sees it).
// "max" and v1's page-rounded MaxInt64 mean no limit and are left out.
func cgroupMemoryLimits(root string) []uint64 {
	files := []string{"sys/fs/cgroup/memory.max", "sys/fs/cgroup/memory/memory.limit_in_bytes"}
	if data, err := os.ReadFile(filepath.Join(root, "proc/self/cgroup")); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			parts := strings.SplitN(line, ":", 3)
			if len(parts) != 3 || parts[2] == "/" {
				continue
			}
			switch {
			case parts[0] == "0" && parts[1] == "": // v2: "0::/path"
				files = append(files, filepath.Join("sys/fs/cgroup", parts[2], "memory.max"))
			case slices.Contains(strings.Split(parts[1], ","), "memory"): // v1: "4:memory:/path"
				files = append(files, filepath.Join("sys/fs/cgroup/memory", parts[2], "memory.limit_in_bytes"))
			}
		}
	}
	var limits []uint64
	for _, name := range files {
		data, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
		if err != nil || n == 0 || n >= 1<<62 { // "max", or v1's "no limit"
			continue
		}
		limits = append(limits, n)
	}
	return limits
}

// starve reports whether producers must wait; a link that finds the alarm on registers to be resumed.
func (m *memoryAlarm) starve(link *actor.PID) bool {
	if !m.isOn() {
		m.sampleIfStale()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.on {
		return false
	}
	m.starved = append(m.starved, link)
	return true
}

func (m *memoryAlarm) run(stop <-chan struct{}) {
	t := time.NewTicker(memorySampleEvery)
	defer t.Stop()
	if m.tuneGC {
		m.gc = newGCTuner(m.highWater)
		defer m.gc.restore()
	}
	if m.tuneProcs {
		if m.procs = newProcTuner(time.Now()); m.procs != nil {
			defer m.procs.restore()
		}
	}
	var lastGC time.Time
	for {
		var now time.Time
		select {
		case <-stop:
			return
		case now = <-t.C:
		}
		if m.gc != nil {
			m.gc.observe(now)
		}
		if m.procs != nil {
			if from, to := m.procs.observe(now); from != to {
				m.b.log.Debug("GOMAXPROCS changed with the load (Options.TuneProcs)", "from", from, "to", to)
			}
		}
		if m.isOn() && time.Since(lastGC) > time.Second {
			// Under the alarm producers are still, so little allocates and the GC may not run on its own:
			// collect once a second so memory freed by draining consumers is seen.
			runtime.GC()
			lastGC = time.Now()
		}
		m.sampleNow()
	}
}

func (m *memoryAlarm) isOn() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.on
}

func (m *memoryAlarm) set(on bool, used uint64) {
	m.mu.Lock()
	if on == m.on {
		m.mu.Unlock()
		return
	}
	m.on, m.used = on, used
	if on {
		m.onSince = time.Now()
	}
	resume := m.starved
	if !on {
		m.starved = nil
	}
	m.mu.Unlock()
	if on {
		m.b.log.Warn("ALARM: memory above the high-water mark: producers get no credit until it falls", "heap_bytes", used, "high_watermark", m.highWater)
		return
	}
	m.b.log.Info("memory alarm cleared", "heap_bytes", used, "high_watermark", m.highWater)
	for _, pid := range resume {
		m.b.system.Root.Send(pid, &creditResume{})
	}
}

// raise records an alarm for an actor given up after repeated failures.
func (m *memoryAlarm) raise(a Alarm) {
	a.Raised = time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.raised = append(m.raised, a)
}

// alarms lists the memory alarm while it is on, then the given-up actors.
func (m *memoryAlarm) alarms() []Alarm {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Alarm
	if m.on {
		out = append(out, Alarm{Kind: "memory", Raised: m.onSince,
			Reason: fmt.Sprintf("heap %d bytes at or above the high-water mark of %d bytes: producers get no credit", m.used, m.highWater)})
	}
	return append(out, m.raised...)
}
