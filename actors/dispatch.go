package actors

import (
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
)

// warmDispatcher runs actors' mailbox turns on long-lived worker goroutines instead of a fresh
// goroutine per turn (protoactor's default dispatcher does `go fn()` every time an idle mailbox gets a
// message). A fresh goroutine starts on a small stack and grows it by copying (runtime.newstack →
// copystack) every time it runs a connection's, session's or queue's Receive; profiling the broker under
// load showed 5–13 % of its CPU in that copying alone. A worker keeps its grown stack between turns.
//
// Scheduling never blocks and concurrency is not bounded: a turn goes to a parked worker when one is
// waiting, else to a new goroutine, which joins the pool when it is done. So an actor that blocks (it
// should not, but a custom extension actor might) can never starve the others, exactly as with the
// default dispatcher. At most maxParked workers wait for work; the rest exit.
//
// This is written here rather than taken from a library because it is protoactor's Dispatcher
// interface itself that must be implemented, and it is a dozen lines on the hottest path.
type warmDispatcher struct {
	throughput int // messages per turn before the mailbox yields (runtime.Gosched), as protoactor's
	handoff    chan func()
	parked     atomic.Int32
	maxParked  int32
	stop       chan struct{}
}

var _ actor.Dispatcher = (*warmDispatcher)(nil)

func newWarmDispatcher(throughput int, maxParked int32) *warmDispatcher {
	return &warmDispatcher{throughput: throughput, handoff: make(chan func()), maxParked: maxParked, stop: make(chan struct{})}
}

// Schedule runs fn (a mailbox's processing loop) on a parked worker, or on a new one.
func (d *warmDispatcher) Schedule(fn func()) {
	select {
	case d.handoff <- fn:
	default:
		go d.work(fn)
	}
}

func (d *warmDispatcher) Throughput() int { return d.throughput }

func (d *warmDispatcher) work(fn func()) {
	for {
		fn() // the mailbox recovers panics itself (they are actor failures), so fn always returns
		if d.parked.Add(1) > d.maxParked {
			d.parked.Add(-1)
			return
		}
		select {
		case fn = <-d.handoff:
			d.parked.Add(-1)
		case <-d.stop:
			d.parked.Add(-1)
			return
		}
	}
}

// close ends the parked workers (Broker.Shutdown, once the actor tree has stopped). A turn scheduled
// afterwards still runs, on a goroutine that then exits.
func (d *warmDispatcher) close() { close(d.stop) }
