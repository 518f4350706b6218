package store

import (
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// diskFull fails every file write and sync with ENOSPC while it is on, like a full disk.
type diskFull struct{ on atomic.Bool }

func (d *diskFull) wrap(fs vfs.FS) vfs.FS {
	return errorfs.Wrap(fs, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if !d.on.Load() {
			return nil
		}
		switch op.Kind {
		case errorfs.OpFileWrite, errorfs.OpFileWriteAt, errorfs.OpFileSync, errorfs.OpFileSyncData,
			errorfs.OpFileSyncTo, errorfs.OpFilePreallocate:
			return fmt.Errorf("injected: write %s: %w", op.Path, syscall.ENOSPC)
		}
		return nil
	}))
}

// A failing disk: done gets the error, Err reports it, reads go on and do not show the failed put;
// once the disk works again a later commit succeeds and clears Err, and nothing acknowledged is lost.
func TestDiskFullThenRecover(t *testing.T) {
	dir := t.TempDir()
	var fault diskFull
	s := openTest(t, dir, Options{FS: fault.wrap(vfs.Default)})
	require.NoError(t, submitWait(t, s, putOp("q", 1, "before"), putOp("q", 2, "before too")))
	require.NoError(t, s.Err())

	fault.on.Store(true)
	err := submitWait(t, s, putOp("q", 3, "lost"))
	require.Error(t, err)
	assert.ErrorIs(t, s.Err(), err)
	assert.ErrorIs(t, err, syscall.ENOSPC)
	assert.Equal(t, uint64(1), s.Metrics().Failures)

	// Reads are still served, without the failed put; the statistics are those of the disk.
	assert.Equal(t, []scanned{{1, "before", 0}, {2, "before too", 0}}, scanAll(t, s, "q"))
	n, _, maxSeq := s.Stats("q")
	assert.Equal(t, 2, n)
	assert.Equal(t, uint64(2), maxSeq)

	// While the disk is full, commits keep failing and Err stays set.
	require.Error(t, submitWait(t, s, putOp("q", 3, "lost again")))
	ch := make(chan error, 1)
	s.PutRecord("queue", "q", []byte("{}"), func(err error) { ch <- err })
	require.Error(t, waitDone(t, ch))
	require.Error(t, s.Err())

	fault.on.Store(false)
	require.Eventually(t, func() bool {
		return submitWait(t, s, putOp("q", 3, "after")) == nil
	}, 10*time.Second, 50*time.Millisecond, "a commit succeeds once the disk works again")
	assert.NoError(t, s.Err(), "a successful commit clears Err")
	assert.Equal(t, []scanned{{1, "before", 0}, {2, "before too", 0}, {3, "after", 0}}, scanAll(t, s, "q"))
	require.NoError(t, s.Close())

	s = openTest(t, dir, Options{})
	defer s.Close()
	assert.Equal(t, []scanned{{1, "before", 0}, {2, "before too", 0}, {3, "after", 0}}, scanAll(t, s, "q"))
	n, bytes, maxSeq := s.Stats("q")
	assert.Equal(t, 3, n)
	assert.Equal(t, int64(6+10+5), bytes)
	assert.Equal(t, uint64(3), maxSeq)
}

// A failing fsync alone (writes succeed, fsync reports EIO) fails the group the same way.
func TestFsyncErrorFailsGroup(t *testing.T) {
	var failSync atomic.Bool
	fs := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if failSync.Load() && (op.Kind == errorfs.OpFileSync || op.Kind == errorfs.OpFileSyncData || op.Kind == errorfs.OpFileSyncTo) {
			return fmt.Errorf("injected: %w", syscall.EIO)
		}
		return nil
	}))
	s := openTest(t, t.TempDir(), Options{FS: fs})
	defer s.Close()
	require.NoError(t, submitWait(t, s, putOp("q", 1, "a")))

	failSync.Store(true)
	err := submitWait(t, s, putOp("q", 2, "b"))
	require.ErrorIs(t, err, syscall.EIO)
	require.Error(t, s.Err())

	failSync.Store(false)
	require.Eventually(t, func() bool {
		return submitWait(t, s, putOp("q", 3, "c")) == nil
	}, 10*time.Second, 50*time.Millisecond)
	require.NoError(t, s.Err())
	got := scanAll(t, s, "q")
	require.NotEmpty(t, got)
	assert.Equal(t, scanned{1, "a", 0}, got[0])
	assert.Equal(t, scanned{3, "c", 0}, got[len(got)-1])
	// Seq 2 failed after its write reached the file: it may or may not be there (doc.go, Failures),
	// and the statistics agree with whatever is.
	n, _, _ := s.Stats("q")
	assert.Equal(t, len(got), n)
}
