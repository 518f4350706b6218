package store

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/cockroachdb/pebble/v2"
)

// pebbleLogger routes pebble's logging to slog: Infof at debug (pebble is chatty about flushes and
// compactions), Errorf at warn. Fatalf — which pebble calls on a failed WAL write or MANIFEST
// update, expecting the process to exit — is logged at error and recorded instead: the committer
// checks the record after each group and replaces the database (see doc.go, Failures).
type pebbleLogger struct {
	log *slog.Logger

	mu     sync.Mutex
	fatals uint64 // Fatalf calls so far
	last   error  // the latest Fatalf message
}

var _ pebble.Logger = (*pebbleLogger)(nil)

func (l *pebbleLogger) Infof(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug(fmt.Sprintf(format, args...), "component", "pebble")
	}
}

func (l *pebbleLogger) Errorf(format string, args ...any) {
	l.log.Warn(fmt.Sprintf(format, args...), "component", "pebble")
}

func (l *pebbleLogger) Fatalf(format string, args ...any) {
	err := &fatalError{msg: "store: " + fmt.Sprintf(format, args...)}
	for _, a := range args {
		if cause, ok := a.(error); ok {
			err.cause = cause
			break
		}
	}
	l.log.Error(err.msg, "component", "pebble")
	l.mu.Lock()
	l.fatals++
	l.last = err
	l.mu.Unlock()
}

// fatal returns how many Fatalf calls happened so far and the latest one's error.
func (l *pebbleLogger) fatal() (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fatals, l.last
}

// fatalError is a pebble Fatalf turned into an error; it unwraps to the I/O error pebble reported
// (so errors.Is(err, syscall.ENOSPC) works).
type fatalError struct {
	msg   string
	cause error
}

func (e *fatalError) Error() string { return e.msg }
func (e *fatalError) Unwrap() error { return e.cause }
