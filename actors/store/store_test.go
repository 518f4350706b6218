package store

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSubmitScanStats(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	defer s.Close()

	require.NoError(t, submitWait(t, s, putOp("q", 1, "one"), putOp("q", 2, "two"), putOp("other", 7, "x")))
	require.NoError(t, submitWait(t, s, Op{Kind: OpPut, Queue: "q", Seq: 300, Data: []byte("three hundred"), DeliveryCount: 2}))

	assert.Equal(t, []scanned{{1, "one", 0}, {2, "two", 0}, {300, "three hundred", 2}}, scanAll(t, s, "q"))
	assert.Equal(t, []scanned{{7, "x", 0}}, scanAll(t, s, "other"))
	assert.Empty(t, scanAll(t, s, "missing"))

	n, bytes, maxSeq := s.Stats("q")
	assert.Equal(t, 3, n)
	assert.Equal(t, int64(3+3+13), bytes)
	assert.Equal(t, uint64(300), maxSeq)
	n, bytes, maxSeq = s.Stats("missing")
	assert.Zero(t, n)
	assert.Zero(t, bytes)
	assert.Zero(t, maxSeq)
}

func TestScanFromLimitAndStop(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	defer s.Close()
	var ops []Op
	for seq := uint64(1); seq <= 10; seq++ {
		ops = append(ops, putOp("q", seq, "m"))
	}
	require.NoError(t, submitWait(t, s, ops...))

	var seqs []uint64
	require.NoError(t, s.Scan("q", 4, 3, func(seq uint64, _ []byte, _ uint32) bool {
		seqs = append(seqs, seq)
		return true
	}))
	assert.Equal(t, []uint64{4, 5, 6}, seqs)

	seqs = nil
	require.NoError(t, s.Scan("q", 0, 0, func(seq uint64, _ []byte, _ uint32) bool {
		seqs = append(seqs, seq)
		return seq < 2
	}))
	assert.Equal(t, []uint64{1, 2}, seqs)

	seqs = nil
	require.NoError(t, s.Scan("q", 11, 0, func(seq uint64, _ []byte, _ uint32) bool {
		seqs = append(seqs, seq)
		return true
	}))
	assert.Empty(t, seqs)
}

func TestDeleteAndSetDeliveryCount(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	defer s.Close()
	require.NoError(t, submitWait(t, s, putOp("q", 1, "aa"), putOp("q", 2, "bbb"), putOp("q", 3, "c")))

	require.NoError(t, submitWait(t, s,
		Op{Kind: OpDelete, Queue: "q", Seq: 1},
		Op{Kind: OpSetDeliveryCount, Queue: "q", Seq: 2, DeliveryCount: 5},
		Op{Kind: OpDelete, Queue: "q", Seq: 99},                             // not stored: no-op
		Op{Kind: OpSetDeliveryCount, Queue: "q", Seq: 42, DeliveryCount: 1}, // not stored: no-op
	))
	assert.Equal(t, []scanned{{2, "bbb", 5}, {3, "c", 0}}, scanAll(t, s, "q"))
	n, bytes, maxSeq := s.Stats("q")
	assert.Equal(t, 2, n)
	assert.Equal(t, int64(4), bytes)
	assert.Equal(t, uint64(3), maxSeq)

	// Deleting an already deleted message changes nothing.
	require.NoError(t, submitWait(t, s, Op{Kind: OpDelete, Queue: "q", Seq: 1}))
	n, _, _ = s.Stats("q")
	assert.Equal(t, 2, n)

	require.NoError(t, submitWait(t, s, Op{Kind: OpDelete, Queue: "q", Seq: 2}, Op{Kind: OpDelete, Queue: "q", Seq: 3}))
	n, bytes, maxSeq = s.Stats("q")
	assert.Zero(t, n)
	assert.Zero(t, bytes)
	assert.Zero(t, maxSeq, "an empty queue reports highest seq 0")
	assert.Empty(t, scanAll(t, s, "q"))
}

// Ops of one request see the earlier ops of the same group commit.
func TestOpsWithinOneGroup(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	defer s.Close()
	require.NoError(t, submitWait(t, s,
		putOp("q", 1, "one"),
		Op{Kind: OpSetDeliveryCount, Queue: "q", Seq: 1, DeliveryCount: 3},
		putOp("q", 2, "two"),
		Op{Kind: OpDelete, Queue: "q", Seq: 2},
		putOp("q", 3, "three"),
	))
	assert.Equal(t, []scanned{{1, "one", 3}, {3, "three", 0}}, scanAll(t, s, "q"))
	n, bytes, maxSeq := s.Stats("q")
	assert.Equal(t, 2, n)
	assert.Equal(t, int64(8), bytes)
	assert.Equal(t, uint64(3), maxSeq)
}

// Replacing a stored seq (a broker retrying a put) does not count it twice.
func TestPutReplacesStoredSeq(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	defer s.Close()
	require.NoError(t, submitWait(t, s, putOp("q", 1, "one"), putOp("q", 2, "two")))
	require.NoError(t, submitWait(t, s, putOp("q", 1, "uno!")))
	assert.Equal(t, []scanned{{1, "uno!", 0}, {2, "two", 0}}, scanAll(t, s, "q"))
	n, bytes, maxSeq := s.Stats("q")
	assert.Equal(t, 2, n)
	assert.Equal(t, int64(7), bytes)
	assert.Equal(t, uint64(2), maxSeq)
}

func TestDropQueue(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	defer s.Close()
	require.NoError(t, submitWait(t, s, putOp("q", 1, "a"), putOp("q", 2, "b"), putOp("q2", 1, "keep"), putOp("q\x00", 1, "keep too")))

	ch := make(chan error, 1)
	s.DropQueue("q", func(err error) { ch <- err })
	require.NoError(t, waitDone(t, ch))
	assert.Empty(t, scanAll(t, s, "q"))
	n, _, maxSeq := s.Stats("q")
	assert.Zero(t, n)
	assert.Zero(t, maxSeq)
	assert.Len(t, scanAll(t, s, "q2"), 1)
	assert.Len(t, scanAll(t, s, "q\x00"), 1)

	// The queue can be used again from seq 1, and a delete in the same group as a drop is a no-op.
	s.DropQueue("q2", func(error) {})
	require.NoError(t, submitWait(t, s, Op{Kind: OpDelete, Queue: "q2", Seq: 1}, putOp("q", 1, "again")))
	assert.Equal(t, []scanned{{1, "again", 0}}, scanAll(t, s, "q"))
	assert.Empty(t, scanAll(t, s, "q2"))
	n, _, _ = s.Stats("q2")
	assert.Zero(t, n)
}

// Queues lists the queues with stored messages, after writes, deletes and drops and after a reopen.
func TestQueuesListsQueuesWithMessages(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	assert.Empty(t, s.Queues())
	require.NoError(t, submitWait(t, s, putOp("a", 1, "x"), putOp("b", 1, "y"), putOp("c", 1, "z")))
	require.NoError(t, submitWait(t, s, Op{Kind: OpDelete, Queue: "b", Seq: 1}))
	ch := make(chan error, 1)
	s.DropQueue("c", func(err error) { ch <- err })
	require.NoError(t, waitDone(t, ch))
	assert.Equal(t, []string{"a"}, s.Queues())
	require.NoError(t, s.Close())
	s = openTest(t, dir, Options{})
	defer s.Close()
	assert.Equal(t, []string{"a"}, s.Queues())
}

func TestRecords(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	defer s.Close()
	put := func(kind, key, value string) {
		ch := make(chan error, 1)
		s.PutRecord(kind, key, []byte(value), func(err error) { ch <- err })
		require.NoError(t, waitDone(t, ch))
	}
	put("queue", "/\x00orders", `{"durable":true}`)
	put("queue", "/\x00audit", `{"durable":true,"arguments":{}}`)
	put("exchange", "/\x00logs", `{"type":"fanout"}`)
	put("queue", "/\x00orders", `{"durable":true,"v":2}`) // replaces

	records := func(kind string) map[string]string {
		got := map[string]string{}
		require.NoError(t, s.Records(kind, func(key string, value []byte) bool {
			got[key] = string(value)
			return true
		}))
		return got
	}
	assert.Equal(t, map[string]string{"/\x00orders": `{"durable":true,"v":2}`, "/\x00audit": `{"durable":true,"arguments":{}}`}, records("queue"))
	assert.Equal(t, map[string]string{"/\x00logs": `{"type":"fanout"}`}, records("exchange"))
	assert.Empty(t, records("queu"), "a kind that is a prefix of another sees none of its records")

	ch := make(chan error, 1)
	s.DeleteRecord("queue", "/\x00audit", func(err error) { ch <- err })
	require.NoError(t, waitDone(t, ch))
	assert.Equal(t, map[string]string{"/\x00orders": `{"durable":true,"v":2}`}, records("queue"))

	// Records and messages do not see each other.
	assert.Empty(t, scanAll(t, s, "/\x00orders"))
}

func TestInvalidRequestsFailAlone(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	defer s.Close()

	var wg sync.WaitGroup
	var bad, badKind, good error
	wg.Add(3)
	s.Submit([]Op{putOp("q", 1, "a"), {Kind: 9, Queue: "q", Seq: 2}}, func(err error) { bad = err; wg.Done() })
	s.PutRecord("bad\x00kind", "k", nil, func(err error) { badKind = err; wg.Done() })
	s.Submit([]Op{putOp("q", 3, "c")}, func(err error) { good = err; wg.Done() })
	wg.Wait()
	assert.ErrorIs(t, bad, ErrInvalidOp)
	assert.ErrorIs(t, badKind, ErrInvalidOp)
	assert.NoError(t, good)
	assert.Equal(t, []scanned{{3, "c", 0}}, scanAll(t, s, "q"), "an invalid request is not applied, even in part")
	assert.ErrorIs(t, s.Records("a\x00b", func(string, []byte) bool { return true }), ErrInvalidOp)
}

// done is called in submission order, once per call.
func TestDoneOrder(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	var mu sync.Mutex
	var order []int
	const n = 500
	for i := range n {
		s.Submit([]Op{putOp("q", uint64(i+1), "x")}, func(err error) {
			assert.NoError(t, err)
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
		})
	}
	require.NoError(t, s.Close()) // commits everything already submitted
	require.Len(t, order, n)
	for i, v := range order {
		require.Equal(t, i, v)
	}
}

func TestReopenRestoresEverything(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	for seq := uint64(1); seq <= 100; seq++ {
		s.Submit([]Op{{Kind: OpPut, Queue: "a", Seq: seq, Data: seqData("a", seq, 100), DeliveryCount: uint32(seq % 3)}}, nil)
	}
	s.Submit([]Op{putOp("b", 5, "five"), {Kind: OpDelete, Queue: "a", Seq: 50}}, nil)
	s.PutRecord("user", "guest", []byte(`{"tags":[]}`), nil)
	require.NoError(t, s.Close())
	wantA := scanFresh(t, dir, "a")
	require.Len(t, wantA, 99)

	s = openTest(t, dir, Options{})
	defer s.Close()
	gotA := scanAll(t, s, "a")
	assert.Equal(t, wantA, gotA)
	for _, m := range gotA {
		assert.Equal(t, string(seqData("a", m.Seq, 100)), m.Data)
		assert.Equal(t, uint32(m.Seq%3), m.DC)
	}
	n, bytes, maxSeq := s.Stats("a")
	assert.Equal(t, 99, n)
	assert.Equal(t, int64(99*100), bytes)
	assert.Equal(t, uint64(100), maxSeq)
	n, _, maxSeq = s.Stats("b")
	assert.Equal(t, 1, n)
	assert.Equal(t, uint64(5), maxSeq)
	var users []string
	require.NoError(t, s.Records("user", func(key string, _ []byte) bool { users = append(users, key); return true }))
	assert.Equal(t, []string{"guest"}, users)
}

// scanFresh opens dir, scans queue and closes it again.
func scanFresh(t *testing.T, dir, queue string) []scanned {
	s := openTest(t, dir, Options{})
	defer func() { require.NoError(t, s.Close()) }()
	return scanAll(t, s, queue)
}

func TestAfterClose(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	require.NoError(t, s.Close())
	assert.ErrorIs(t, s.Close(), ErrClosed)

	var got error
	s.Submit([]Op{putOp("q", 1, "x")}, func(err error) { got = err })
	assert.ErrorIs(t, got, ErrClosed, "done is called synchronously after Close")
	s.DropQueue("q", func(err error) { got = err })
	assert.ErrorIs(t, got, ErrClosed)
	s.PutRecord("k", "v", nil, func(err error) { got = err })
	assert.ErrorIs(t, got, ErrClosed)
	assert.ErrorIs(t, s.Scan("q", 0, 0, func(uint64, []byte, uint32) bool { return true }), ErrClosed)
	assert.ErrorIs(t, s.Records("k", func(string, []byte) bool { return true }), ErrClosed)
}

func TestCommitInterval(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{CommitInterval: 20 * time.Millisecond})
	defer s.Close()
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		s.Submit([]Op{putOp("q", uint64(i+1), "x")}, func(err error) { assert.NoError(t, err); wg.Done() })
	}
	wg.Wait()
	m := s.Metrics()
	assert.LessOrEqual(t, m.Commits, uint64(2), "one interval collects every request")
	assert.Equal(t, uint64(50), m.Requests)
	assert.Equal(t, uint64(50), m.Ops)
}

// BusyCommitInterval holds a group open only while recent groups were large: after a 64-op request
// two requests submitted 50 ms apart share one group; on a quiet store (and on a busy one that then
// cut no group for 10 intervals) the same two are committed one after the other.
func TestBusyCommitInterval(t *testing.T) {
	const iv = 300 * time.Millisecond
	twoApart := func(s *Store, seq uint64) (commits uint64) {
		before := s.Metrics().Commits
		a, b := make(chan error, 1), make(chan error, 1)
		s.Submit([]Op{putOp("q", seq, "a")}, func(err error) { a <- err })
		time.Sleep(50 * time.Millisecond)
		s.Submit([]Op{putOp("q", seq+1, "b")}, func(err error) { b <- err })
		require.NoError(t, waitDone(t, a))
		require.NoError(t, waitDone(t, b))
		return s.Metrics().Commits - before
	}
	big := func(first uint64) []Op {
		ops := make([]Op, 64)
		for i := range ops {
			ops[i] = putOp("q", first+uint64(i), "x")
		}
		return ops
	}

	s := openTest(t, t.TempDir(), Options{BusyCommitInterval: iv})
	defer s.Close()
	assert.Equal(t, uint64(2), twoApart(s, 1), "a quiet store commits at once")

	require.NoError(t, submitWait(t, s, big(100)...))
	assert.Equal(t, uint64(1), twoApart(s, 200), "after a large group the next one is held open")

	require.NoError(t, submitWait(t, s, big(300)...))
	time.Sleep(busyIdleFactor*iv + 100*time.Millisecond)
	assert.Equal(t, uint64(2), twoApart(s, 400), "a store idle for 10 intervals is quiet again")

	n, _, _ := s.Stats("q")
	assert.Equal(t, 2+64+2+64+2, n)
}
