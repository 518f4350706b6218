package store

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// group stages the requests of one group commit into a pebble batch, tracking what the batch does
// to each queue's statistics so they can be installed once the batch is durable.
type group struct {
	s      *Store
	db     *pebble.DB
	b      *pebble.Batch
	queues map[string]*stagedQueue
	ops    int
	key    []byte // scratch
	val    []byte // scratch
	// deferred lists the group's deferred puts in staging order (stagedMsg.deferred). A seq put
	// again after its queue was dropped in the same group appears twice and is written twice, the
	// same way both times: harmless, and rare.
	deferred []deferredPut
}

type deferredPut struct {
	queue string
	sq    *stagedQueue
	seq   uint64
}

// stagedQueue is a queue's statistics as of the batch built so far, and the messages the batch
// has touched (so that later ops of the same group see earlier ones).
type stagedQueue struct {
	st      queueStats
	dropped bool                 // the batch range-deletes the queue's earlier messages
	msgs    map[uint64]stagedMsg // seq → state after the batch so far
}

type stagedMsg struct {
	exists bool
	data   []byte // message data (without the delivery-count prefix) when exists
	// deferred: a put of a seq the database cannot hold yet (above the queue's highest stored seq),
	// not written to the batch yet. emitDeferred writes the ones that still exist when the group
	// is cut; a delete in the same group cancels the put, and neither reaches the WAL or the
	// memtable. That takes a consumer acknowledging the message before its put's fsync: 4.5 % of
	// the messages of a durable 1 KiB 1→1 load (BENCHMARKS.md), more when the disk is slow.
	deferred      bool
	deliveryCount uint32
}

func (g *group) queue(name string) *stagedQueue {
	sq := g.queues[name]
	if sq == nil {
		// Only the committer writes s.stats, and this is the committer: no lock needed to read.
		sq = &stagedQueue{st: g.s.stats[name], msgs: map[uint64]stagedMsg{}}
		g.queues[name] = sq
	}
	return sq
}

// lookup returns whether message seq of sq is stored as of the batch so far, its data's size, and,
// withData, a copy of its data. Deletes only need the size (for the statistics), so they copy nothing:
// a durable consumer's every acknowledgement is one of them.
func (g *group) lookup(queue string, sq *stagedQueue, seq uint64, withData bool) (bool, int, []byte, error) {
	if m, ok := sq.msgs[seq]; ok {
		return m.exists, len(m.data), m.data, nil
	}
	if sq.dropped || sq.st.count == 0 || seq > sq.st.maxSeq {
		return false, 0, nil, nil
	}
	if !withData {
		if size, ok := g.s.recent.size(queue, seq); ok {
			return true, size, nil, nil
		}
	}
	g.key = appendMessageKey(g.key[:0], queue, seq)
	v, closer, err := g.db.Get(g.key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, 0, nil, nil
	}
	if err != nil {
		return false, 0, nil, fmt.Errorf("store: read %q/%d: %w", queue, seq, err)
	}
	defer closer.Close()
	_, data, err := decodeMessageValue(v)
	if err != nil {
		return false, 0, nil, fmt.Errorf("store: read %q/%d: %w", queue, seq, err)
	}
	if !withData {
		return true, len(data), nil, nil
	}
	return true, len(data), append([]byte(nil), data...), nil
}

// stage adds one request to the batch. An error means an I/O failure: the group fails.
func (g *group) stage(r *request) error {
	switch r.kind {
	case reqOps:
		for i := range r.ops {
			if err := g.stageOp(&r.ops[i]); err != nil {
				return err
			}
		}
		return nil
	case reqDropQueue:
		sq := g.queue(r.queue)
		prefix := appendQueuePrefix(nil, r.queue)
		if err := g.b.DeleteRange(prefix, prefixEnd(prefix), nil); err != nil {
			return err
		}
		sq.st = queueStats{}
		sq.dropped = true
		clear(sq.msgs)
	case reqPutRecord:
		g.key = append(appendRecordPrefix(g.key[:0], r.rkind), r.rkey...)
		if err := g.b.Set(g.key, r.value, nil); err != nil {
			return err
		}
	case reqDeleteRecord:
		g.key = append(appendRecordPrefix(g.key[:0], r.rkind), r.rkey...)
		if err := g.b.Delete(g.key, nil); err != nil {
			return err
		}
	}
	g.ops++
	return nil
}

func (g *group) stageOp(op *Op) error {
	sq := g.queue(op.Queue)
	switch op.Kind {
	case OpPut:
		if sq.st.count > 0 && op.Seq <= sq.st.maxSeq {
			// Not a fresh seq (a retry, or a broker restarting its numbering): the message may be
			// stored already, and replacing it must not count it twice.
			exists, old, _, err := g.lookup(op.Queue, sq, op.Seq, false)
			if err != nil {
				return err
			}
			if exists {
				sq.st.count--
				sq.st.bytes -= int64(old)
			}
		}
		// A seq above the highest one stored (or staged) cannot be in the database, nor in the
		// batch: the put can wait for the end of the group (stagedMsg.deferred). Anything else may
		// overwrite a stored message, which must happen in batch order, so it is written now.
		fresh := sq.st.count == 0 || op.Seq > sq.st.maxSeq
		prev, staged := sq.msgs[op.Seq]
		defer_ := fresh || (staged && prev.deferred)
		if fresh {
			sq.st.maxSeq = op.Seq
		}
		sq.st.count++
		sq.st.bytes += int64(len(op.Data))
		sq.msgs[op.Seq] = stagedMsg{exists: true, data: op.Data, deferred: defer_, deliveryCount: op.DeliveryCount}
		if defer_ {
			if !staged || !prev.deferred {
				g.deferred = append(g.deferred, deferredPut{op.Queue, sq, op.Seq})
			}
			g.ops++
			return nil
		}
		return g.set(op.Queue, op.Seq, op.DeliveryCount, op.Data)
	case OpDelete:
		exists, old, _, err := g.lookup(op.Queue, sq, op.Seq, false)
		if err != nil || !exists {
			return err
		}
		sq.st.count--
		sq.st.bytes -= int64(old)
		if sq.st.count == 0 {
			sq.st = queueStats{}
		}
		g.ops++
		if m := sq.msgs[op.Seq]; m.deferred {
			// Never written: the put and the delete cancel out. deferred stays set: a later
			// put of the same seq in this group is still one the database cannot hold.
			sq.msgs[op.Seq] = stagedMsg{deferred: true}
			return nil
		}
		sq.msgs[op.Seq] = stagedMsg{}
		g.key = appendMessageKey(g.key[:0], op.Queue, op.Seq)
		return g.b.Delete(g.key, nil)
	case OpSetDeliveryCount:
		if m := sq.msgs[op.Seq]; m.deferred {
			if m.exists {
				m.deliveryCount = op.DeliveryCount
				sq.msgs[op.Seq] = m
				g.ops++
			}
			return nil
		}
		exists, _, data, err := g.lookup(op.Queue, sq, op.Seq, true)
		if err != nil || !exists {
			return err
		}
		return g.set(op.Queue, op.Seq, op.DeliveryCount, data)
	}
	return nil
}

// emitDeferred writes the deferred puts that are still wanted at the end of the group, in the order
// they were staged: pebble inserts a batch into its memtable in batch order, and ascending keys are
// what its skiplist inserts fastest (in map order the group's Apply took 45 % longer). Among
// different keys the batch's order does not matter otherwise, and a queue dropped after a deferred put
// cleared it from msgs, so what is written is exactly what the group keeps.
func (g *group) emitDeferred() error {
	for _, d := range g.deferred {
		if m, ok := d.sq.msgs[d.seq]; ok && m.deferred && m.exists {
			g.ops-- // counted when staged
			if err := g.set(d.queue, d.seq, m.deliveryCount, m.data); err != nil {
				return err
			}
		}
	}
	return nil
}

func (g *group) set(queue string, seq uint64, deliveryCount uint32, data []byte) error {
	g.key = appendMessageKey(g.key[:0], queue, seq)
	g.val = appendMessageValue(g.val[:0], deliveryCount, data)
	g.ops++
	return g.b.Set(g.key, g.val, nil)
}

// recentPuts remembers the data sizes of messages that recent groups stored, so that deleting one
// (a consumer's acknowledgement, typically a few milliseconds after the put) needs no read of the
// database to keep the statistics exact: profiling a durable 1 KiB load put 6 % of the broker's CPU in
// those reads. It holds at most maxRecent entries over all queues (a few MiB); a message it does not
// hold is read as before. Committer only; reset whenever the database is replaced.
type recentPuts struct {
	queues map[string]map[uint64]int
	n      int
}

const maxRecent = 1 << 16

func (r *recentPuts) size(queue string, seq uint64) (int, bool) {
	size, ok := r.queues[queue][seq]
	return size, ok
}

func (r *recentPuts) reset() { *r = recentPuts{} }

// committed records what a durable group did to one queue: sq's messages as of the end of the group.
func (r *recentPuts) committed(queue string, sq *stagedQueue) {
	m := r.queues[queue]
	if sq.dropped || sq.st.count == 0 {
		r.n -= len(m)
		clear(m)
	}
	for seq, sm := range sq.msgs {
		_, had := m[seq]
		switch {
		case sm.exists && (had || r.n < maxRecent):
			if m == nil {
				if r.queues == nil {
					r.queues = map[string]map[uint64]int{}
				}
				m = map[uint64]int{}
				r.queues[queue] = m
			}
			if !had {
				r.n++
			}
			m[seq] = len(sm.data)
		case !sm.exists && had:
			delete(m, seq)
			r.n--
		}
	}
	if m != nil && len(m) == 0 {
		delete(r.queues, queue)
	}
}
