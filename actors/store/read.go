package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Scan calls fn for the stored messages of queue with seq >= from, in seq order, at most limit
// (0 = all), stopping early when fn returns false. Used for recovery and for read-ahead of queues
// larger than memory. data is only valid during the call (copy it to keep it); fn must not call
// Scan, Records or Close.
func (s *Store) Scan(queue string, from uint64, limit int, fn func(seq uint64, data []byte, deliveryCount uint32) bool) error {
	prefix := appendQueuePrefix(nil, queue)
	lower := binary.BigEndian.AppendUint64(append([]byte(nil), prefix...), from)
	return s.iterate(lower, prefixEnd(prefix), func(key, value []byte) (bool, error) {
		if len(key) != len(prefix)+seqLen {
			return false, fmt.Errorf("store: corrupt message key %q", key)
		}
		dc, data, err := decodeMessageValue(value)
		if err != nil {
			return false, err
		}
		if !fn(binary.BigEndian.Uint64(key[len(prefix):]), data, dc) {
			return false, nil
		}
		if limit--; limit == 0 {
			return false, nil
		}
		return true, nil
	})
}

// Stats reports a queue's stored message count, byte total (of message data) and highest seq
// (0 when empty), kept in memory (O(1)). The highest seq is an upper bound: the highest seq put
// since the queue was last empty, exact after Open.
func (s *Store) Stats(queue string) (count int, bytes int64, maxSeq uint64) {
	s.statsMu.RLock()
	st := s.stats[queue]
	s.statsMu.RUnlock()
	return st.count, st.bytes, st.maxSeq
}

// Queues lists the queues that have stored messages (from the in-memory statistics), in no
// particular order: recovery uses it to find messages no queue record claims any more.
func (s *Store) Queues() []string {
	s.statsMu.RLock()
	defer s.statsMu.RUnlock()
	out := make([]string, 0, len(s.stats))
	for q := range s.stats {
		out = append(out, q)
	}
	return out
}

// Records calls fn for every definitions record of kind, in key order, stopping early when fn
// returns false. value is only valid during the call; fn must not call Scan, Records or Close.
func (s *Store) Records(kind string, fn func(key string, value []byte) bool) error {
	if !validKind(kind) {
		return fmt.Errorf("%w: record kind %q contains 0x00", ErrInvalidOp, kind)
	}
	prefix := appendRecordPrefix(nil, kind)
	return s.iterate(prefix, prefixEnd(prefix), func(key, value []byte) (bool, error) {
		return fn(string(key[len(prefix):]), value), nil
	})
}

// iterate runs fn over the keys in [lower, upper) of the current database, holding dbMu shared.
func (s *Store) iterate(lower, upper []byte, fn func(key, value []byte) (bool, error)) (err error) {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	if s.db == nil {
		return s.dbErr
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return fmt.Errorf("store: iterate: %w", err)
	}
	defer func() { err = errors.Join(err, it.Close()) }()
	for ok := it.First(); ok; ok = it.Next() {
		v, verr := it.ValueAndErr()
		if verr != nil {
			return fmt.Errorf("store: iterate: %w", verr)
		}
		more, ferr := fn(it.Key(), v)
		if ferr != nil || !more {
			return ferr
		}
	}
	return it.Error()
}

// scanStats rebuilds every queue's statistics with one pass over the message keys.
func scanStats(db *pebble.DB) (stats map[string]queueStats, err error) {
	stats = map[string]queueStats{}
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{messagePrefix}, UpperBound: []byte{messagePrefix + 1}})
	if err != nil {
		return nil, fmt.Errorf("store: scan: %w", err)
	}
	defer func() { err = errors.Join(err, it.Close()) }()
	var cur []byte // current queue prefix
	var name string
	var st queueStats
	for ok := it.First(); ok; ok = it.Next() {
		prefix, queue, seq, ok := splitMessageKey(it.Key())
		if !ok {
			return nil, fmt.Errorf("store: corrupt message key %q", it.Key())
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, fmt.Errorf("store: scan: %w", err)
		}
		_, data, err := decodeMessageValue(v)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(prefix, cur) {
			if st.count > 0 {
				stats[name] = st
			}
			cur = append(cur[:0], prefix...)
			name, st = string(queue), queueStats{}
		}
		st.count++
		st.bytes += int64(len(data))
		st.maxSeq = seq // keys come in seq order
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("store: scan: %w", err)
	}
	if st.count > 0 {
		stats[name] = st
	}
	return stats, nil
}
