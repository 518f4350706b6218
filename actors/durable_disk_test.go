package actors

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// logRecorder is a slog handler that keeps every record at warn or above (as "LEVEL msg k=v ...").
type logRecorder struct {
	mu    *sync.Mutex
	lines *[]string
	attrs []slog.Attr
}

func newLogRecorder() *logRecorder { return &logRecorder{mu: &sync.Mutex{}, lines: new([]string)} }

func (h *logRecorder) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s %s", r.Level, r.Message)
	for _, a := range h.attrs {
		fmt.Fprintf(&sb, " %s=%v", a.Key, a.Value)
	}
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&sb, " %s=%v", a.Key, a.Value)
		return true
	})
	h.mu.Lock()
	*h.lines = append(*h.lines, sb.String())
	h.mu.Unlock()
	return nil
}

func (h *logRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	return &logRecorder{mu: h.mu, lines: h.lines, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h *logRecorder) WithGroup(string) slog.Handler { return h }

// has reports whether a recorded line contains every one of parts.
func (h *logRecorder) has(parts ...string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
next:
	for _, l := range *h.lines {
		for _, p := range parts {
			if !strings.Contains(l, p) {
				continue next
			}
		}
		return true
	}
	return false
}

// failingDisk fails file writes and syncs with errno while it is on (syncs only, when syncOnly).
type failingDisk struct {
	on       atomic.Bool
	syncOnly bool
	errno    syscall.Errno
}

func (d *failingDisk) fs() vfs.FS {
	return errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if !d.on.Load() {
			return nil
		}
		switch op.Kind {
		case errorfs.OpFileWrite, errorfs.OpFileWriteAt, errorfs.OpFilePreallocate:
			if d.syncOnly {
				return nil
			}
		case errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo:
		default:
			return nil
		}
		return fmt.Errorf("injected: %s: %w", op.Path, d.errno)
	}))
}

// An I/O error other than a full disk: durable publishes are rejected with amqp:internal-error,
// consumers keep being served, the broker stays up (transient traffic, new connections), the
// condition is logged; once the disk works again publishing resumes, the accept that could not be
// written is, and no refused message is ever delivered, not even after a restart.
func TestDiskErrorRejectsWithInternalError(t *testing.T) {
	disk := &failingDisk{errno: syscall.EIO}
	logs := newLogRecorder()
	dir := t.TempDir()
	b, stop := startStoppable(t, Options{AMQPAddr: "127.0.0.1:0", Logger: slog.New(logs), DataDir: dir, storeFS: disk.fs()})
	s := newSess(t, dial(t, b, nil))
	snd := sender(t, s, "eio", nil)
	for _, body := range []string{"before-1", "before-2"} {
		require.Equal(t, &amqp.StateAccepted{}, sendMsg(t, snd, durableMsg(body)))
	}

	disk.on.Store(true)
	for i := range 3 {
		st := sendMsg(t, snd, durableMsg(fmt.Sprint("refused-", i)))
		rej, ok := st.(*amqp.StateRejected)
		require.True(t, ok, "got %T", st)
		assert.Equal(t, amqp.ErrCond("amqp:internal-error"), rej.Error.Condition)
		assert.Contains(t, rej.Error.Description, "could not store")
	}
	assert.True(t, logs.has("ERROR", "group commit failed", "input/output error"), "the failure is logged")
	require.Error(t, b.store.Err(), "the store reports the condition")

	r := receiver(t, s, "eio", &amqp.ReceiverOptions{Credit: 1})
	m := recv(t, r)
	assert.Equal(t, "before-1", string(m.GetData()), "consumers keep being served")
	require.NoError(t, r.AcceptMessage(testCtx(t), m))
	s2 := newSess(t, dial(t, b, nil)) // the broker accepts new connections
	require.Equal(t, &amqp.StateAccepted{}, sendMsg(t, sender(t, s2, "eio-transient", nil), amqp.NewMessage([]byte("in memory"))),
		"transient messages need no disk")
	assertQueue(t, s2, "eio-transient", "in memory")

	disk.on.Store(false)
	require.Eventually(t, func() bool {
		_, ok := sendMsg(t, snd, durableMsg("after")).(*amqp.StateAccepted)
		return ok
	}, 10*time.Second, 50*time.Millisecond, "publishing resumes once the disk works again")
	require.NoError(t, b.store.Err())
	require.Eventually(t, func() bool {
		for _, m := range storedOf(t, b, "eio") {
			if m.Body == "before-1" {
				return false
			}
		}
		return true
	}, 5*time.Second, 20*time.Millisecond, "the accept that failed to reach the disk is retried once it works")
	assert.True(t, logs.has("ERROR", "the deletes will be retried", "deletes=1"), "the failed delete is logged")
	m = recv(t, r)
	assert.Equal(t, "before-2", string(m.GetData()))
	require.NoError(t, r.ReleaseMessage(testCtx(t), m))
	require.NoError(t, r.Close(testCtx(t)))
	stop()

	b2, _ := startOnDisk(t, dir)
	assertQueue(t, newSess(t, dial(t, b2, nil)), "eio", "before-2", "after")
}

// A failed fsync after the write reached the file: pebble may replay the write when the store reopens
// (actors/store doc.go, Failures). The producer was told rejected, so the queue deletes what it
// refused: the message is not in the store and not delivered after a restart.
func TestRefusedPublishIsNotRecoveredAfterFsyncError(t *testing.T) {
	disk := &failingDisk{errno: syscall.EIO, syncOnly: true}
	dir := t.TempDir()
	b, err := NewBroker(Options{AMQPAddr: "127.0.0.1:0", Logger: testLogger(), DataDir: dir, storeFS: disk.fs()})
	require.NoError(t, err)
	require.NoError(t, b.Start())
	s := newSess(t, dial(t, b, nil))
	snd := sender(t, s, "fsync", nil)
	require.Equal(t, &amqp.StateAccepted{}, sendMsg(t, snd, durableMsg("kept")))
	disk.on.Store(true)
	st := sendMsg(t, snd, durableMsg("refused"))
	disk.on.Store(false)
	rej, ok := st.(*amqp.StateRejected)
	require.True(t, ok, "got %T", st)
	assert.Equal(t, amqp.ErrCond("amqp:internal-error"), rej.Error.Condition)
	require.Eventually(t, func() bool {
		_, ok := sendMsg(t, snd, durableMsg("later")).(*amqp.StateAccepted)
		return ok
	}, 10*time.Second, 50*time.Millisecond)
	require.Eventually(t, func() bool {
		for _, m := range storedOf(t, b, "fsync") {
			if m.Body == "refused" {
				return false
			}
		}
		return true
	}, 5*time.Second, 20*time.Millisecond, "the refused message is not in the store")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, b.Shutdown(ctx))

	b2, _ := startOnDisk(t, dir)
	s2 := newSess(t, dial(t, b2, nil))
	r := receiver(t, s2, "/queues/fsync", &amqp.ReceiverOptions{Credit: 10})
	for _, want := range []string{"kept", "later"} {
		m := recv(t, r)
		require.Equal(t, want, string(m.GetData()), "the refused message is never delivered")
		require.NoError(t, r.AcceptMessage(testCtx(t), m))
	}
	require.NoError(t, r.Close(testCtx(t)))
	requireQueueEmpty(t, b2, "fsync") // nor any other publish that was refused while the store reopened
}

// stallingDisk blocks every sync while stalled: a disk far slower than the consumers.
type stallingDisk struct{ gate atomic.Pointer[chan struct{}] }

func (d *stallingDisk) fs() vfs.FS {
	return errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		switch op.Kind {
		case errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo:
			if g := d.gate.Load(); g != nil {
				<-*g
			}
		}
		return nil
	}))
}

func (d *stallingDisk) stall() { g := make(chan struct{}); d.gate.Store(&g) }

// release lets syncs through again (and does nothing when not stalled).
func (d *stallingDisk) release() {
	if g := d.gate.Swap(nil); g != nil {
		close(*g)
	}
}

// A consumer that accepts faster than the store can delete what it accepted is held back: while the
// settlements' store updates not yet durable are at the broker's bound, its queue delivers nothing
// more (memory stays bounded); once the store catches up, delivery resumes where it stopped, and
// nothing is lost or delivered twice.
func TestConsumerWaitsForAStoreFarBehind(t *testing.T) {
	const total, limit, credit = 300, 40, 10
	disk := &stallingDisk{}
	b, _ := startStoppable(t, Options{AMQPAddr: "127.0.0.1:0", Logger: testLogger(), DataDir: t.TempDir(),
		storeFS: disk.fs(), storeBacklog: limit})
	t.Cleanup(disk.release) // before the broker's shutdown (cleanups run last first), also after a failure
	s := newSess(t, dial(t, b, nil))
	snd := sender(t, s, "behind", nil)
	for i := range total {
		require.Equal(t, &amqp.StateAccepted{}, sendMsg(t, snd, durableMsg(fmt.Sprint(i))))
	}

	disk.stall()
	r := receiver(t, s, "behind", &amqp.ReceiverOptions{Credit: credit})
	next := 0
	receiveOne := func(wait time.Duration) bool { // receives and accepts one message, false when none came
		ctx, cancel := context.WithTimeout(testCtx(t), wait)
		m, err := r.Receive(ctx, nil)
		cancel()
		if err != nil {
			require.ErrorIs(t, err, context.DeadlineExceeded)
			return false
		}
		require.Equal(t, fmt.Sprint(next), string(m.GetData()), "in order, each once")
		next++
		require.NoError(t, r.AcceptMessage(testCtx(t), m))
		return true
	}
	consume := func(wait time.Duration) { // until nothing comes for wait
		for receiveOne(wait) {
		}
	}
	for next < limit {
		require.True(t, receiveOne(10*time.Second), "delivered until the bound is reached (%d of %d)", next, limit)
	}
	consume(time.Second)
	held := next
	assert.Less(t, held, limit+4*credit, "then held back")
	assert.GreaterOrEqual(t, b.storeOps.pending.Load(), int64(limit))
	consume(time.Second)
	assert.Equal(t, held, next, "nothing more while the store stays behind")

	disk.release()
	for next < total {
		before := next
		consume(2 * time.Second)
		require.Greater(t, next, before, "delivery resumes once the store caught up (%d of %d)", next, total)
	}
	require.Eventually(t, func() bool { return b.storeOps.pending.Load() == 0 }, 5*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return len(storedOf(t, b, "behind")) == 0 }, 5*time.Second, 20*time.Millisecond,
		"every accepted message deleted")
}
