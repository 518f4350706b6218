package store

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// 100 concurrent submitters, each waiting for its done before submitting again, share fsyncs: the
// WAL is synced far fewer times than there are requests.
func TestGroupCommitSharesFsyncs(t *testing.T) {
	var syncs walSyncCounter
	s := openTest(t, t.TempDir(), Options{FS: syncs.wrap(vfs.Default)})
	defer s.Close()

	const submitters, each = 100, 5
	before := syncs.n.Load()
	var wg sync.WaitGroup
	for g := range submitters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := fmt.Sprintf("q%d", g)
			for seq := uint64(1); seq <= each; seq++ {
				assert.NoError(t, submitWait(t, s, Op{Kind: OpPut, Queue: q, Seq: seq, Data: seqData(q, seq, 1024)}))
			}
		}()
	}
	wg.Wait()
	fsyncs := syncs.n.Load() - before
	m := s.Metrics()
	t.Logf("%d requests, %d group commits, %d WAL fsyncs", submitters*each, m.Commits, fsyncs)
	assert.Equal(t, uint64(submitters*each), m.Requests)
	assert.Less(t, m.Commits, uint64(submitters*each/4), "group commits batch requests")
	assert.Less(t, fsyncs, int64(submitters*each/4), "the WAL is fsynced once per group, not per request")
	assert.Positive(t, fsyncs)
	for g := range submitters {
		n, bytes, maxSeq := s.Stats(fmt.Sprintf("q%d", g))
		require.Equal(t, each, n)
		assert.Equal(t, int64(each*1024), bytes)
		assert.Equal(t, uint64(each), maxSeq)
	}
}

// A message put and deleted within one group commit (a consumer acknowledging it before its fsync)
// never reaches the WAL, while the statistics and what a scan returns stay what the ops say.
func TestGroupCancelsPutAndDelete(t *testing.T) {
	// A long CommitInterval puts every request submitted at once into one group.
	s := openTest(t, t.TempDir(), Options{CommitInterval: 200 * time.Millisecond})
	defer s.Close()
	walIn := func() uint64 { return s.db.Metrics().WAL.BytesIn }
	big := func(seq uint64) Op { return Op{Kind: OpPut, Queue: "q", Seq: seq, Data: seqData("q", seq, 64<<10)} }

	before := walIn()
	chs := make([]chan error, 0, 4)
	submit := func(ops ...Op) {
		ch := make(chan error, 1)
		s.Submit(ops, func(err error) { ch <- err })
		chs = append(chs, ch)
	}
	submit(big(1), big(2), big(3))
	submit(Op{Kind: OpDelete, Queue: "q", Seq: 1}, Op{Kind: OpSetDeliveryCount, Queue: "q", Seq: 3, DeliveryCount: 7})
	submit(Op{Kind: OpDelete, Queue: "q", Seq: 2})
	submit(big(2)) // the same seq again after its delete: stored
	for _, ch := range chs {
		require.NoError(t, waitDone(t, ch))
	}
	require.Equal(t, uint64(1), s.Metrics().Commits, "one group")
	written := walIn() - before
	assert.Less(t, written, uint64(3*64<<10), "seq 1's put and delete cancelled out: %d WAL bytes", written)
	assert.Greater(t, written, uint64(2*64<<10), "seqs 2 and 3 are written")

	got := scanAll(t, s, "q")
	require.Len(t, got, 2)
	assert.Equal(t, uint64(2), got[0].Seq)
	assert.Equal(t, string(seqData("q", 2, 64<<10)), got[0].Data)
	assert.Equal(t, uint32(0), got[0].DC)
	assert.Equal(t, uint64(3), got[1].Seq)
	assert.Equal(t, uint32(7), got[1].DC, "the delivery-count update of a deferred put is kept")
	n, bytes, maxSeq := s.Stats("q")
	assert.Equal(t, 2, n)
	assert.Equal(t, int64(2*64<<10), bytes)
	assert.Equal(t, uint64(3), maxSeq)

	// A drop in the group discards the deferred puts before it and keeps the ones after it.
	submit(big(4))
	s.DropQueue("q", nil)
	submit(big(5))
	for _, ch := range chs[4:] {
		require.NoError(t, waitDone(t, ch))
	}
	got = scanAll(t, s, "q")
	require.Len(t, got, 1)
	assert.Equal(t, uint64(5), got[0].Seq)
	n, _, _ = s.Stats("q")
	assert.Equal(t, 1, n)
}

// Deleting a message a recent group stored takes its size from memory, not from a read; the
// statistics stay exact either way, past the memory's bound included.
func TestRecentPutsKeepStatsExact(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	defer s.Close()
	require.NoError(t, submitWait(t, s, putOp("q", 1, "aaaa"), putOp("q", 2, "bbbbbb"), putOp("r", 1, "c")))
	size, ok := s.recent.size("q", 2) // the committer is idle: done has been called
	require.True(t, ok)
	assert.Equal(t, 6, size)

	require.NoError(t, submitWait(t, s, Op{Kind: OpDelete, Queue: "q", Seq: 2}))
	_, ok = s.recent.size("q", 2)
	assert.False(t, ok, "a delete forgets the size")
	n, bytes, _ := s.Stats("q")
	assert.Equal(t, 1, n)
	assert.Equal(t, int64(4), bytes)

	require.NoError(t, submitWait(t, s, Op{Kind: OpDelete, Queue: "q", Seq: 1}))
	assert.Nil(t, s.recent.queues["q"], "an emptied queue keeps no sizes")
	n, bytes, _ = s.Stats("q")
	assert.Equal(t, 0, n)
	assert.Equal(t, int64(0), bytes)

	// Past the bound, sizes are read from the database again.
	ops := make([]Op, 0, maxRecent+10)
	for seq := uint64(1); seq <= maxRecent+10; seq++ {
		ops = append(ops, putOp("big", seq, "xy"))
	}
	require.NoError(t, submitWait(t, s, ops...))
	assert.Equal(t, maxRecent, s.recent.n)
	dels := make([]Op, 0, len(ops))
	for seq := uint64(1); seq <= maxRecent+10; seq++ {
		dels = append(dels, Op{Kind: OpDelete, Queue: "big", Seq: seq})
	}
	require.NoError(t, submitWait(t, s, dels[:len(dels)/2]...))
	n, bytes, _ = s.Stats("big")
	assert.Equal(t, len(ops)-len(dels)/2, n)
	assert.Equal(t, int64(2*n), bytes)
	require.NoError(t, submitWait(t, s, dels[len(dels)/2:]...))
	n, _, _ = s.Stats("big")
	assert.Equal(t, 0, n)
	assert.Equal(t, 1, s.recent.n, "only queue r's message is left")
}
