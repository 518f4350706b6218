package store

import (
	"fmt"
	"sync"
	"testing"

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
