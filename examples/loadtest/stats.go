package main

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// stats are the run's counters, shared by every producer and consumer.
type stats struct {
	start     time.Time
	sent      atomic.Int64
	confirmed atomic.Int64 // settled accepted by the broker (unsettled producers only)
	received  atomic.Int64
	errors    atomic.Int64

	lastConfirm atomic.Int64 // nanoseconds since start of the latest confirmation
	lastReceive atomic.Int64 // … of the latest message received

	mu       sync.Mutex
	firstErr error
}

func newStats() *stats { return &stats{start: time.Now()} }

// fail counts an error and keeps the first one.
func (s *stats) fail(err error) {
	s.errors.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.firstErr == nil {
		s.firstErr = err
	}
}

func (s *stats) failf(format string, a ...any) { s.fail(fmt.Errorf(format, a...)) }

func (s *stats) firstError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.firstErr
}

func (s *stats) since(t time.Time) int64 { return int64(t.Sub(s.start)) }

// counts is a snapshot of the counters.
type counts struct{ sent, confirmed, received int64 }

func (s *stats) snapshot() counts {
	return counts{sent: s.sent.Load(), confirmed: s.confirmed.Load(), received: s.received.Load()}
}

// latencies is one consumer's latency record: the current second's and the whole run's.
type latencies struct {
	mu       sync.Mutex
	interval histogram
	total    histogram
}

func (l *latencies) record(micros uint64) {
	l.mu.Lock()
	l.interval.record(micros)
	l.total.record(micros)
	l.mu.Unlock()
}

// takeInterval adds the current second's values to into and starts a new second.
func (l *latencies) takeInterval(into *histogram) {
	l.mu.Lock()
	into.merge(&l.interval)
	l.interval.reset()
	l.mu.Unlock()
}

func (l *latencies) addTotal(into *histogram) {
	l.mu.Lock()
	into.merge(&l.total)
	l.mu.Unlock()
}
