package actors

import (
	"bufio"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// The memory alarm (RabbitMQ's, but per link): when the broker's Go memory passes the high-water mark,
// producer links stop getting credit — consumers keep flowing, so queues drain and memory falls — and
// when it drops below again, starved links get their credit back. Backpressure stays AMQP's own: link
// credit (DESIGN.md §1), never a blocked mailbox.

// memoryAlarm is owned by the Broker; its goroutine samples memory every memorySampleEvery.
type memoryAlarm struct {
	b         *Broker
	highWater uint64
	mu        sync.Mutex
	on        bool
	starved   []*actor.PID // receiver links waiting for credit
}

const memorySampleEvery = 50 * time.Millisecond

// creditResume tells a starved receiver link that it may grant credit again.
type creditResume struct{}

func newMemoryAlarm(b *Broker, highWater uint64) *memoryAlarm {
	if highWater == 0 {
		highWater = defaultHighWater()
	}
	return &memoryAlarm{b: b, highWater: highWater}
}

// defaultHighWater is 40 % of the machine's memory, as RabbitMQ's vm_memory_high_watermark.
func defaultHighWater() uint64 {
	const fallback = 1 << 30
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return fallback
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err == nil {
				return kb * 1024 * 4 / 10
			}
		}
	}
	return fallback
}

// active reports whether producers must wait; a link that finds it on registers to be resumed.
func (m *memoryAlarm) starve(link *actor.PID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.on {
		return false
	}
	m.starved = append(m.starved, link)
	return true
}

func (m *memoryAlarm) run(stop <-chan struct{}) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	t := time.NewTicker(memorySampleEvery)
	defer t.Stop()
	var lastGC time.Time
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if m.isOn() && time.Since(lastGC) > time.Second {
			// Under the alarm producers are still, so little allocates and the GC may not run on its own:
			// collect once a second so memory freed by draining consumers is seen.
			runtime.GC()
			lastGC = time.Now()
		}
		metrics.Read(sample)
		used := sample[0].Value.Uint64()
		m.set(used >= m.highWater, used)
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
	m.on = on
	resume := m.starved
	if !on {
		m.starved = nil
	}
	m.mu.Unlock()
	if on {
		m.b.log.Warn("memory alarm: producers get no credit until memory falls", "heap_bytes", used, "high_watermark", m.highWater)
		return
	}
	m.b.log.Info("memory alarm cleared", "heap_bytes", used, "high_watermark", m.highWater)
	for _, pid := range resume {
		m.b.system.Root.Send(pid, &creditResume{})
	}
}
