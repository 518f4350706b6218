package store

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
)

// The engine choice (issue 4): the pebble store against the alternative the issue names — a segment
// log per queue (the RabbitMQ / LavinMQ / JetStream design) — on the write path a durable publish
// waits for. Results and the verdict are in bench_results.md:
//
//	go test -run '^$' -bench Engine -benchtime 5000x -count 2 ./actors/store/

// segLog is that alternative in its smallest honest form, for BenchmarkEngine only (never shipped):
// one append-only segment file per queue, records framed as len | crc32c | seq | data, and the same
// group commit as the pebble store: a committer goroutine takes everything pending (after the same
// Gosched), writes each touched queue's records with one pwrite, makes them durable with one
// fdatasync per touched file, then calls every done in submission order. It has no index, no acks
// (deletes), no compaction and no recovery: only the write path, where a segment log would have to
// win.
//
// prezero picks how a segment's space is obtained: false appends to a growing file (every
// fdatasync also commits the new size and block allocation), true writes a zeroed 64 MiB segment
// first and overwrites it (the fdatasync is a pure data flush — what pebble gets by recycling its
// WAL files), the best case for a segment log.
type segLog struct {
	dir     string
	prezero bool

	mu      sync.Mutex
	pending []segReq
	closed  bool
	kick    chan struct{}
	quit    chan struct{}
	exited  chan struct{}
	commits atomic.Uint64
	syncs   atomic.Uint64

	// Owned by the committer.
	files map[string]*segFile
	bufs  map[string][]byte
	err   error
}

type segReq struct {
	ops  []Op
	done func(error)
}

type segFile struct {
	f   *os.File
	off int64
	end int64 // prezeroed space ends here
}

const segSize = 64 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func openSegLog(dir string, prezero bool) *segLog {
	l := &segLog{dir: dir, prezero: prezero, kick: make(chan struct{}, 1), quit: make(chan struct{}),
		exited: make(chan struct{}), files: map[string]*segFile{}, bufs: map[string][]byte{}}
	go l.run()
	return l
}

// Submit queues a request of OpPut ops for the next group commit; done is called once it is durable.
func (l *segLog) Submit(ops []Op, done func(error)) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		done(ErrClosed)
		return
	}
	l.pending = append(l.pending, segReq{ops: ops, done: done})
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

func (l *segLog) Close() error {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	close(l.quit)
	<-l.exited
	var err error
	for _, sf := range l.files {
		if cerr := sf.f.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

func (l *segLog) run() {
	defer close(l.exited)
	for {
		select {
		case <-l.kick:
		case <-l.quit:
			for l.commitNext() {
			}
			return
		}
		for l.commitNext() {
		}
	}
}

func (l *segLog) commitNext() bool {
	runtime.Gosched() // as the store's committer: let just-woken submitters join this group
	l.mu.Lock()
	reqs := l.pending
	l.pending = nil
	l.mu.Unlock()
	if len(reqs) == 0 {
		return false
	}
	err := l.commit(reqs)
	for _, r := range reqs {
		r.done(err)
	}
	return true
}

// commit appends every request's records to their queues' segments and fdatasyncs each one.
func (l *segLog) commit(reqs []segReq) error {
	if l.err != nil {
		return l.err
	}
	for q := range l.bufs {
		l.bufs[q] = l.bufs[q][:0]
	}
	for _, r := range reqs {
		for i := range r.ops {
			op := &r.ops[i]
			b := l.bufs[op.Queue]
			b = binary.LittleEndian.AppendUint32(b, uint32(len(op.Data)))
			b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(op.Data, castagnoli))
			b = binary.LittleEndian.AppendUint64(b, op.Seq)
			l.bufs[op.Queue] = append(b, op.Data...)
		}
	}
	for q, b := range l.bufs {
		if len(b) == 0 {
			continue
		}
		sf, err := l.file(q, int64(len(b)))
		if err == nil {
			_, err = sf.f.WriteAt(b, sf.off)
		}
		if err == nil {
			err = syscall.Fdatasync(int(sf.f.Fd()))
			l.syncs.Add(1)
		}
		if err != nil {
			l.err = err
			return err
		}
		sf.off += int64(len(b))
	}
	l.commits.Add(1)
	return nil
}

// file returns the queue's current segment with room for n more bytes, starting a new one (and
// prezeroing it) when needed.
func (l *segLog) file(queue string, n int64) (*segFile, error) {
	sf := l.files[queue]
	if sf != nil && (!l.prezero || sf.off+n <= sf.end) && sf.off+n <= segSize {
		return sf, nil
	}
	if sf != nil {
		_ = sf.f.Close()
	}
	f, err := os.OpenFile(filepath.Join(l.dir, fmt.Sprintf("%s-%d.seg", queue, len(l.files))), os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	sf = &segFile{f: f}
	if l.prezero {
		zero := make([]byte, 1<<20)
		for off := int64(0); off < segSize; off += int64(len(zero)) {
			if _, err := f.WriteAt(zero, off); err != nil {
				return nil, err
			}
		}
		if err := f.Sync(); err != nil {
			return nil, err
		}
		sf.end = segSize
	}
	l.files[queue] = sf
	return sf, nil
}

// submitEngine is what benchSubmit drives: the pebble store or the segment log.
type submitEngine interface {
	Submit(ops []Op, done func(error))
	Close() error
}

// BenchmarkEngine runs the BenchmarkSubmit cases, 1 KiB durable puts, on both engines: N submitters
// each waiting for its put's done (one queue each, and all on one queue — a segment log's best case:
// one file, one fdatasync per group), and one submitter with 256 puts in flight.
func BenchmarkEngine(b *testing.B) {
	cases := []struct {
		name                 string
		submitters, inflight int
		oneQueue             bool
	}{
		{"submitters=1", 1, 1, false},
		{"submitters=4", 4, 1, false},
		{"submitters=16", 16, 1, false},
		{"submitters=16,queues=1", 16, 1, true},
		{"inflight=256", 1, 256, false},
	}
	engines := []struct {
		name string
		open func(b *testing.B) (submitEngine, func() (fsyncs, commits uint64))
	}{
		{"pebble", func(b *testing.B) (submitEngine, func() (uint64, uint64)) {
			var syncs walSyncCounter
			s := openTest(b, b.TempDir(), Options{FS: syncs.wrap(vfs.Default)})
			return s, func() (uint64, uint64) { return uint64(syncs.n.Load()), s.Metrics().Commits }
		}},
		{"seglog-append", func(b *testing.B) (submitEngine, func() (uint64, uint64)) {
			l := openSegLog(b.TempDir(), false)
			return l, func() (uint64, uint64) { return l.syncs.Load(), l.commits.Load() }
		}},
		{"seglog-prezeroed", func(b *testing.B) (submitEngine, func() (uint64, uint64)) {
			l := openSegLog(b.TempDir(), true)
			return l, func() (uint64, uint64) { return l.syncs.Load(), l.commits.Load() }
		}},
	}
	// Case by case, the engines one after the other: the VM's fsync latency drifts a lot over minutes,
	// so the runs to compare are adjacent in time.
	for _, c := range cases {
		for _, e := range engines {
			b.Run(c.name+"/"+e.name, func(b *testing.B) {
				eng, counts := e.open(b)
				defer func() { require.NoError(b, eng.Close()) }()
				if l, ok := eng.(*segLog); ok && l.prezero {
					// Prezero every queue's first segment before the clock starts.
					for g := range c.submitters {
						_, err := l.file(benchQueue(g, c.oneQueue), 0)
						require.NoError(b, err)
					}
				}
				benchSubmit(b, eng, counts, c.submitters, c.inflight, c.oneQueue)
			})
		}
	}
}
