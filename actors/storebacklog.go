package actors

import (
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
)

// storeBacklog bounds the store updates that settlements cause (the deletes of accepted messages,
// delivery-count updates) submitted to the store and not yet durable, over all queues.
//
// Why: a consumer's accept is not held back by the store (its delete follows), so a consumer that
// outruns the store's deletes — draining a backlog of millions of messages from disk, where each
// delete reads the stored message's size — piled up pending deletes without limit: a 10-million
// message drain ended with 1.5 GB of RSS, from a live heap of pending requests (BENCHMARKS.md,
// sixth pass). With the bound, a queue stops delivering while the store is that far behind and
// resumes once it has caught up half-way, so the drain runs at the store's pace instead.
type storeBacklog struct {
	pending atomic.Int64
	limit   int64

	// waiting is set before a queue's final check in holds, so that done takes mu only while some
	// queue may be held: in the steady state a store completion costs two atomic operations.
	waiting atomic.Bool
	mu      sync.Mutex
	held    map[*actor.PID]struct{} // queues holding deliveries back until storeCaughtUp
}

// storeBacklogLimit is the bound: 64 Ki updates, a few MiB of pending requests.
const storeBacklogLimit = 1 << 16

// storeCaughtUp tells a queue that held its deliveries back that the store has caught up.
type storeCaughtUp struct{}

func newStoreBacklog(limit int64) *storeBacklog {
	return &storeBacklog{limit: limit, held: map[*actor.PID]struct{}{}}
}

// submitted counts n updates handed to the store; each must be ended by done(n).
func (s *storeBacklog) submitted(n int) { s.pending.Add(int64(n)) }

// holds reports whether queue must hold its deliveries back. When it must, the queue is told
// (storeCaughtUp) once the pending updates are down to half the limit.
func (s *storeBacklog) holds(queue *actor.PID) bool {
	if s.pending.Load() < s.limit {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Registered first, then checked again: an update ending after this check sees waiting and finds
	// the queue in held (done).
	s.held[queue] = struct{}{}
	s.waiting.Store(true)
	if s.pending.Load() < s.limit {
		delete(s.held, queue)
		return false
	}
	return true
}

// done ends n updates (durable or failed: either way the store no longer holds them) and wakes the
// held queues once half the limit is reached. It runs on the store's committer goroutine.
func (s *storeBacklog) done(n int, sys *actor.ActorSystem) {
	if s.pending.Add(-int64(n)) > s.limit/2 || !s.waiting.Load() {
		return
	}
	s.mu.Lock()
	s.waiting.Store(false)
	held := s.held
	s.held = map[*actor.PID]struct{}{}
	s.mu.Unlock()
	for pid := range held {
		sys.Root.Send(pid, storeCaughtUp{})
	}
}
