package store

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// ErrClosed is what every operation reports after Close (done callbacks included).
var ErrClosed = errors.New("store: closed")

const (
	defaultCacheSize    = 32 << 20
	defaultMemTableSize = 16 << 20
	// busyGroupOps is the average group size, in ops, from which the store counts as busy
	// (Options.BusyCommitInterval).
	busyGroupOps = 16
	// busyIdleFactor: a store that cut no group for this many BusyCommitIntervals is quiet again.
	busyIdleFactor = 10
	// maxGroupBytes bounds one group commit's batch; whatever is left waits for the next fsync.
	maxGroupBytes = 32 << 20
	// retryInterval spaces read-write reopen attempts while the disk keeps failing.
	retryInterval = 250 * time.Millisecond
)

// Options configures a Store. The zero value is ready to use.
type Options struct {
	// CommitInterval bounds how long a submitted batch may wait for others to share its fsync
	// (default 0: commit as soon as the committer is free — natural group commit: everything
	// submitted while an fsync is in flight shares the next one).
	CommitInterval time.Duration
	// BusyCommitInterval is CommitInterval while the store is busy: it applies while recent groups
	// carried 16 ops or more on average (a request without ops counts as one), and never to a quiet
	// store, whose next write is then committed at once. Under load a group's fsync is paid for by every request in it, so holding
	// the next group open a little gathers more of them per fsync (PostgreSQL's commit_delay with
	// commit_siblings, decided from recent groups instead of a count of open transactions).
	// A store that cut no group for 10 BusyCommitIntervals is quiet again. Default 0: off.
	BusyCommitInterval time.Duration
	// Logger receives the store's and pebble's logs (pebble's informational chatter at debug).
	// nil means slog.Default().
	Logger *slog.Logger
	// FS allows fault injection in tests (nil = the real filesystem): e.g. pebble's vfs with an
	// error-injecting wrapper (github.com/cockroachdb/pebble/v2/vfs/errorfs).
	FS vfs.FS
	// CacheSize is pebble's block cache in bytes (default 32 MiB).
	CacheSize int64
}

// Store is Warren's durable state under --data-dir: durable topology (definitions records) and the
// messages of durable queues, on pebble (github.com/cockroachdb/pebble/v2) with group commit.
// All methods are safe for concurrent use.
type Store struct {
	dir   string
	opts  Options
	log   *slog.Logger
	plog  *pebbleLogger
	cache *pebble.Cache

	// dbMu guards db, dbErr and readOnly. Readers hold it shared for a whole iteration; only the
	// committer (and Close, once the committer has exited) takes it exclusively, to replace db.
	dbMu     sync.RWMutex
	db       *pebble.DB // nil when no database could be opened (dbErr says why) or after Close
	dbErr    error
	readOnly bool

	// statsMu guards stats, the committed per-queue statistics. Only the committer writes.
	statsMu sync.RWMutex
	stats   map[string]queueStats

	// mu guards the pending list and closed.
	mu           sync.Mutex
	pending      []*request
	pendingBytes int
	firstPending time.Time // when pending last became non-empty
	groupOps     int       // moving average of the ops per group cut (committer only; BusyCommitInterval)
	lastCut      time.Time // when the last group was cut (committer only)
	closed       bool

	kick   chan struct{} // buffered(1): pending became non-empty
	quit   chan struct{} // closed by Close
	exited chan struct{} // closed when the committer returns

	health atomic.Pointer[error]

	commits, failures, requests, ops atomic.Uint64

	// Owned by the committer goroutine.
	recent     recentPuts
	seenFatals uint64
	nextRetry  time.Time
}

// queueStats are one queue's stored-message statistics.
type queueStats struct {
	count  int
	bytes  int64
	maxSeq uint64
}

// Metrics are cumulative counters since Open, for telemetry.
type Metrics struct {
	Commits  uint64 // group commits made durable, one WAL fsync each
	Failures uint64 // group commits that failed
	Requests uint64 // requests (Submit, DropQueue, PutRecord, DeleteRecord calls) made durable
	Ops      uint64 // their individual changes
}

// Open opens (creating if needed) the store in dir, replays pebble's WAL and rebuilds the
// per-queue statistics with one scan of the stored messages.
func Open(dir string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.FS == nil {
		opts.FS = vfs.Default
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = defaultCacheSize
	}
	log := opts.Logger.With("component", "store")
	s := &Store{
		dir:    dir,
		opts:   opts,
		log:    log,
		plog:   &pebbleLogger{log: opts.Logger},
		kick:   make(chan struct{}, 1),
		quit:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	if err := opts.FS.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("store: create %s: %w", dir, err)
	}
	s.cache = pebble.NewCache(opts.CacheSize)
	start := time.Now()
	db, err := s.openDB(false)
	if err != nil {
		s.cache.Unref()
		return nil, err
	}
	stats, err := scanStats(db)
	if err != nil {
		_ = closeDB(db)
		s.cache.Unref()
		return nil, err
	}
	s.db, s.stats = db, stats
	s.seenFatals, _ = s.plog.fatal()
	log.Debug("store opened", "dir", dir, "queues", len(stats), "took", time.Since(start))
	go s.run()
	return s, nil
}

// openDB opens the pebble database in s.dir.
func (s *Store) openDB(readOnly bool) (db *pebble.DB, err error) {
	el := pebble.MakeLoggingEventListener(s.plog)
	o := &pebble.Options{
		Cache:         s.cache,
		FS:            s.opts.FS,
		Logger:        s.plog,
		EventListener: &el,
		MemTableSize:  defaultMemTableSize,
		ReadOnly:      readOnly,
	}
	if !readOnly {
		o.FormatMajorVersion = pebble.FormatNewest
	}
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("store: open %s: panic: %v", s.dir, r)
		}
	}()
	db, err = pebble.Open(s.dir, o)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", s.dir, err)
	}
	return db, nil
}

// closeDB closes db, turning a panic (pebble panics on some inconsistencies left by a fatal I/O
// error) into an error.
func closeDB(db *pebble.DB) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("store: close: panic: %v", r)
		}
	}()
	return db.Close()
}

// Close commits everything already submitted, stops the committer and closes the database.
// Later calls, and every operation after it, report ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closed = true
	s.mu.Unlock()
	close(s.quit)
	<-s.exited

	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	var err error
	if s.db != nil {
		err = closeDB(s.db)
	}
	s.db, s.dbErr = nil, ErrClosed
	s.cache.Unref()
	return err
}

// Err is the store's health: the last I/O error (e.g. disk full), nil when healthy. The broker
// exposes it and refuses durable publishes while it is set. A later successful commit clears it.
func (s *Store) Err() error {
	if p := s.health.Load(); p != nil {
		return *p
	}
	return nil
}

func (s *Store) setErr(err error) {
	if err == nil {
		s.health.Store(nil)
		return
	}
	s.health.Store(&err)
}

// Metrics returns the store's cumulative counters.
func (s *Store) Metrics() Metrics {
	return Metrics{
		Commits:  s.commits.Load(),
		Failures: s.failures.Load(),
		Requests: s.requests.Load(),
		Ops:      s.ops.Load(),
	}
}

// ensureWritable makes sure the committer has a read-write database with no fatal error since it was
// opened, replacing it if not. Committer only.
func (s *Store) ensureWritable() error {
	n, last := s.plog.fatal()
	if s.db != nil && !s.readOnly && n == s.seenFatals {
		return nil
	}
	if time.Now().Before(s.nextRetry) {
		if err := s.Err(); err != nil {
			return err
		}
		if last != nil {
			return last
		}
		return s.dbErr
	}
	return s.replaceDB()
}

// replaceDB closes the current database and reopens it read-write, rebuilding the statistics from
// what is really on disk. When that fails it opens it read-only so reads go on, and schedules the
// next read-write attempt. Committer only.
func (s *Store) replaceDB() error {
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	s.recent.reset() // what the new database holds is read from it again
	if s.db != nil {
		if err := closeDB(s.db); err != nil {
			s.log.Warn("closing the failed database", "err", err.Error())
		}
		s.db = nil
	}
	defer func() { s.seenFatals, _ = s.plog.fatal() }()

	db, err := s.openDB(false)
	if err == nil {
		var stats map[string]queueStats
		if stats, err = scanStats(db); err == nil {
			s.db, s.dbErr, s.readOnly = db, nil, false
			s.installStats(stats)
			s.log.Info("database reopened after an I/O error", "queues", len(stats))
			return nil
		}
		_ = closeDB(db)
	}
	s.nextRetry = time.Now().Add(retryInterval)
	s.log.Warn("database not writable; serving reads only", "err", err)
	ro, roErr := s.openDB(true)
	if roErr != nil {
		s.log.Error("database not readable", "err", roErr)
		s.dbErr = errors.Join(err, roErr)
		return err
	}
	s.db, s.dbErr, s.readOnly = ro, nil, true
	if stats, serr := scanStats(ro); serr == nil {
		s.installStats(stats)
	}
	return err
}

// installStats replaces every queue's statistics.
func (s *Store) installStats(stats map[string]queueStats) {
	s.statsMu.Lock()
	s.stats = stats
	s.statsMu.Unlock()
}
