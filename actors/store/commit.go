package store

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// OpKind says what an Op does.
type OpKind uint8

const (
	// OpPut stores message Seq of Queue with Data and DeliveryCount (replacing any stored one).
	OpPut OpKind = iota
	// OpDelete removes message Seq of Queue; a no-op when it is not stored.
	OpDelete
	// OpSetDeliveryCount rewrites the delivery-count of message Seq of Queue (AMQP 1.0 §3.2.1,
	// header.delivery-count); a no-op when it is not stored.
	OpSetDeliveryCount
)

// Op is one change to one queue's message log. Queue is an opaque stable id the broker chooses
// (it will be vhost + "\x00" + queue name). Seq orders messages within a queue (strictly increasing
// per queue for OpPut).
type Op struct {
	Kind          OpKind
	Queue         string
	Seq           uint64
	Data          []byte // OpPut only; must not be modified until done is called
	DeliveryCount uint32 // OpPut and OpSetDeliveryCount
}

// ErrInvalidOp reports an Op with an unknown Kind, or a record kind containing 0x00.
var ErrInvalidOp = errors.New("store: invalid op")

type requestKind uint8

const (
	reqOps requestKind = iota
	reqDropQueue
	reqPutRecord
	reqDeleteRecord
)

// request is one Submit (or DropQueue, PutRecord, DeleteRecord) call: committed atomically.
type request struct {
	kind  requestKind
	ops   []Op
	queue string // reqDropQueue
	rkind string // record kind
	rkey  string
	value []byte
	done  func(error)
}

func (r *request) size() int {
	n := len(r.value) + len(r.rkey) + len(r.queue) + 16
	for i := range r.ops {
		n += len(r.ops[i].Data) + len(r.ops[i].Queue) + 24
	}
	return n
}

func (r *request) validate() error {
	switch r.kind {
	case reqOps:
		for i := range r.ops {
			if r.ops[i].Kind > OpSetDeliveryCount {
				return fmt.Errorf("%w: kind %d", ErrInvalidOp, r.ops[i].Kind)
			}
		}
	case reqPutRecord, reqDeleteRecord:
		if !validKind(r.rkind) {
			return fmt.Errorf("%w: record kind %q contains 0x00", ErrInvalidOp, r.rkind)
		}
	}
	return nil
}

// Submit queues ops for the next group commit and calls done exactly once, from the committer
// goroutine, after they are durable (fsync'd) or failed. Many concurrent callers share one fsync
// (group commit). done must not block. Submit never blocks on I/O (it may block briefly on a mutex).
// The ops of one call are atomic; calls are committed, and their done called, in the order they were
// made. ops and their Data must not be modified until done is called. After Close, done gets
// ErrClosed (called synchronously).
func (s *Store) Submit(ops []Op, done func(error)) {
	s.enqueue(&request{kind: reqOps, ops: ops, done: done})
}

// DropQueue deletes every message of the queue (one range deletion), durably; done as for Submit.
func (s *Store) DropQueue(queue string, done func(error)) {
	s.enqueue(&request{kind: reqDropQueue, queue: queue, done: done})
}

// PutRecord durably stores a definitions record (an exchange, queue, binding, user... as opaque
// JSON) under kind and key, replacing any previous one; done as for Submit. kind must not contain
// 0x00 (done gets ErrInvalidOp).
func (s *Store) PutRecord(kind, key string, value []byte, done func(error)) {
	s.enqueue(&request{kind: reqPutRecord, rkind: kind, rkey: key, value: value, done: done})
}

// DeleteRecord durably removes a definitions record; done as for Submit.
func (s *Store) DeleteRecord(kind, key string, done func(error)) {
	s.enqueue(&request{kind: reqDeleteRecord, rkind: kind, rkey: key, done: done})
}

func (s *Store) enqueue(r *request) {
	if r.done == nil {
		r.done = func(error) {}
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		r.done(ErrClosed)
		return
	}
	if len(s.pending) == 0 {
		s.firstPending = time.Now()
	}
	s.pending = append(s.pending, r)
	s.pendingBytes += r.size()
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// run is the committer goroutine.
func (s *Store) run() {
	defer close(s.exited)
	for {
		select {
		case <-s.kick:
		case <-s.quit:
			for s.commitNext() {
			}
			return
		}
		for s.commitNext() {
		}
	}
}

// commitNext waits out CommitInterval (BusyCommitInterval after a busy group), then commits one
// group of pending requests. It reports whether there was anything to commit.
func (s *Store) commitNext() bool {
	// Let submitters just woken by the previous group's done callbacks submit again before the
	// group is cut, and before the wait below looks at what is pending: on a small machine this
	// doubles the requests per fsync for a few synchronous producers (BenchmarkSubmit/submitters=4:
	// ~1.9 → ~3.9 per commit).
	runtime.Gosched()
	iv := s.opts.CommitInterval
	if biv := s.opts.BusyCommitInterval; biv > iv {
		if time.Since(s.lastCut) > busyIdleFactor*biv {
			s.groupOps = 0 // no group for a while: the store is quiet again
		}
		if s.groupOps >= busyGroupOps {
			iv = biv
		}
	}
	if iv > 0 {
		s.mu.Lock()
		wait := iv - time.Since(s.firstPending)
		empty := len(s.pending) == 0
		s.mu.Unlock()
		if !empty && wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-s.quit:
				t.Stop()
			}
		}
	}
	reqs := s.takePending()
	if len(reqs) == 0 {
		return false
	}
	s.lastCut = time.Now()
	ops := 0
	for _, r := range reqs {
		ops += max(len(r.ops), 1)
	}
	// Groups under load alternate large and small (a small one gathers what came during a large
	// one's fsync), so the busy signal is a moving average: it halves toward each group's size.
	s.groupOps = (s.groupOps + ops) / 2
	s.commitGroup(reqs)
	return true
}

// takePending removes up to maxGroupBytes worth of requests (at least one) from the pending list.
func (s *Store) takePending() []*request {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pendingBytes <= maxGroupBytes {
		reqs := s.pending
		s.pending, s.pendingBytes = nil, 0
		return reqs
	}
	n, size := 0, 0
	for n < len(s.pending) && (n == 0 || size+s.pending[n].size() <= maxGroupBytes) {
		size += s.pending[n].size()
		n++
	}
	reqs := append([]*request(nil), s.pending[:n]...)
	s.pending = append(s.pending[:0], s.pending[n:]...)
	s.pendingBytes -= size
	s.firstPending = time.Now()
	return reqs
}

// commitGroup stages reqs into one batch, applies it with one fsync and calls every done.
// Committer only.
func (s *Store) commitGroup(reqs []*request) {
	errs := make([]error, len(reqs))
	for i, r := range reqs {
		errs[i] = r.validate()
	}
	var staged map[string]*stagedQueue
	var nops int
	err := s.ensureWritable()
	if err == nil {
		if staged, nops, err = s.applyGroup(reqs, errs); err != nil {
			s.log.Error("group commit failed", "requests", len(reqs), "err", err)
			// Replace the database before anyone hears of the failure, so that the failed batch,
			// which pebble has already made visible in its memtable, is not read back (doc.go,
			// Failures).
			if rerr := s.replaceDB(); rerr != nil {
				s.log.Warn("store still failing", "err", rerr)
			}
		}
	}
	if err != nil {
		s.failures.Add(1)
		s.setErr(err)
		for i, r := range reqs {
			if errs[i] == nil {
				errs[i] = err
			}
			r.done(errs[i])
		}
		return
	}
	for q, sq := range staged {
		s.recent.committed(q, sq)
	}
	if len(staged) > 0 {
		s.statsMu.Lock()
		for q, sq := range staged {
			if sq.st.count == 0 {
				delete(s.stats, q)
			} else {
				s.stats[q] = sq.st
			}
		}
		s.statsMu.Unlock()
	}
	s.setErr(nil)
	s.commits.Add(1)
	var nreq uint64
	for _, err := range errs {
		if err == nil {
			nreq++
		}
	}
	s.requests.Add(nreq)
	s.ops.Add(uint64(nops))
	for i, r := range reqs {
		r.done(errs[i])
	}
}

// applyGroup builds the batch of every valid request and applies it with pebble.Sync to the
// (writable) database. It returns
// the staged statistics of the queues it touched and the number of ops applied.
func (s *Store) applyGroup(reqs []*request, errs []error) (staged map[string]*stagedQueue, nops int, err error) {
	db := s.db
	g := &group{s: s, db: db, b: db.NewBatch(), queues: map[string]*stagedQueue{}}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("store: commit: panic: %v", r)
		}
		_ = g.b.Close()
	}()
	for i, r := range reqs {
		if errs[i] != nil {
			continue
		}
		if err := g.stage(r); err != nil {
			return nil, 0, err
		}
	}
	if err := g.emitDeferred(); err != nil {
		return nil, 0, err
	}
	before, _ := s.plog.fatal()
	if err := db.Apply(g.b, pebble.Sync); err != nil {
		return nil, 0, fmt.Errorf("store: commit: %w", err)
	}
	// Pebble reports a failed WAL write or fsync through Logger.Fatalf and then returns nil.
	if after, last := s.plog.fatal(); after != before {
		return nil, 0, last
	}
	return g.queues, g.ops, nil
}
