package store

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/stretchr/testify/require"
)

// TestMain doubles as the crash test's child process (crash_test.go): when crashChildEnv is set,
// the test binary runs the child workload instead of the tests.
func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		os.Exit(crashChild(dir))
	}
	code := m.Run()
	removeBigStore()
	os.Exit(code)
}

func quietLogger() *slog.Logger {
	if os.Getenv("STORE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func openTest(t testing.TB, dir string, opts Options) *Store {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	s, err := Open(dir, opts)
	require.NoError(t, err)
	return s
}

// submitWait submits ops and waits for their done.
func submitWait(t testing.TB, s *Store, ops ...Op) error {
	t.Helper()
	ch := make(chan error, 1)
	s.Submit(ops, func(err error) { ch <- err })
	return waitDone(t, ch)
}

func waitDone(t testing.TB, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("done was not called")
		return nil
	}
}

func putOp(queue string, seq uint64, data string) Op {
	return Op{Kind: OpPut, Queue: queue, Seq: seq, Data: []byte(data)}
}

type scanned struct {
	Seq  uint64
	Data string
	DC   uint32
}

func scanAll(t testing.TB, s *Store, queue string) []scanned {
	t.Helper()
	var out []scanned
	require.NoError(t, s.Scan(queue, 0, 0, func(seq uint64, data []byte, dc uint32) bool {
		out = append(out, scanned{seq, string(data), dc})
		return true
	}))
	return out
}

// walSyncCounter wraps an FS and counts fsyncs of pebble's WAL files (*.log), the fsyncs a group
// commit pays for.
type walSyncCounter struct{ n atomic.Int64 }

func (c *walSyncCounter) wrap(fs vfs.FS) vfs.FS {
	return errorfs.Wrap(fs, errorfs.InjectorFunc(func(op errorfs.Op) error {
		switch op.Kind {
		case errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo:
			if strings.HasSuffix(op.Path, ".log") {
				c.n.Add(1)
			}
		}
		return nil
	}))
}

func seqData(queue string, seq uint64, size int) []byte {
	head := fmt.Sprintf("%s/%d/", queue, seq)
	b := make([]byte, size)
	for i := range b {
		b[i] = head[i%len(head)]
	}
	return b
}
