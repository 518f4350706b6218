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
		if sq.st.count == 0 || op.Seq > sq.st.maxSeq {
			sq.st.maxSeq = op.Seq
		}
		sq.st.count++
		sq.st.bytes += int64(len(op.Data))
		sq.msgs[op.Seq] = stagedMsg{exists: true, data: op.Data}
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
		sq.msgs[op.Seq] = stagedMsg{}
		g.key = appendMessageKey(g.key[:0], op.Queue, op.Seq)
		g.ops++
		return g.b.Delete(g.key, nil)
	case OpSetDeliveryCount:
		exists, _, data, err := g.lookup(op.Queue, sq, op.Seq, true)
		if err != nil || !exists {
			return err
		}
		return g.set(op.Queue, op.Seq, op.DeliveryCount, data)
	}
	return nil
}

func (g *group) set(queue string, seq uint64, deliveryCount uint32, data []byte) error {
	g.key = appendMessageKey(g.key[:0], queue, seq)
	g.val = appendMessageValue(g.val[:0], deliveryCount, data)
	g.ops++
	return g.b.Set(g.key, g.val, nil)
}
