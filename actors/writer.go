package actors

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/warren-mq/warren/protocol"
)

// frameWriter owns the write side of one connection's socket. Actors (connection, sessions, links)
// append whole encoded frames under a short lock; every burst of frames costs one write syscall
// (nats-server's flush-per-burst, RabbitMQ's writer).
//
// Who writes: when nobody is writing, the appender itself makes one non-blocking write attempt of
// everything pending (a raw write(2) on the non-blocking socket, never a wait); what the socket does
// not take at once, and every write on a connection without a raw socket (TLS, net.Pipe), goes to the
// writer goroutine, which writes blocking with a deadline. While someone writes, others only append and
// their frames go out with the next write. So on an uncongested socket a frame costs no goroutine
// wake-up at all, and a congested socket never blocks an actor.
//
// Memory stays bounded by the protocol, not by the writer: what sessions may send is limited by the
// peer's session window and link credit (DESIGN.md §1: "backpressure comes from link credit and session
// windows"), and when the socket stalls past writeTimeout the connection is dropped.
type frameWriter struct {
	conn net.Conn
	raw  syscall.RawConn // nil: no non-blocking attempts (TLS, pipes); the writer goroutine writes all
	try  rawAttempt      // the state of tryWrite's raw write (used only by the inline writer)

	mu       sync.Mutex
	buf      []byte // frames waiting to be written
	spare    []byte // the last written buffer, reused
	state    writerState
	closed   bool
	err      error
	lastSent time.Time

	wake chan struct{} // capacity 1: "the writer goroutine has work"
	done chan struct{} // closed when the loop exits

	linger    time.Duration // writeLinger (tests lengthen it)
	lazyTimer *time.Timer   // flushLazy, armed by appendLazy
	lazyArmed bool          // lazyTimer will fire

	heartbeat    time.Duration // send an empty frame when idle this long (half the peer's idle-time-out); 0 = never
	writeTimeout time.Duration
	bytesSent    *atomic.Int64 // nil = not counted
}

// writerState says who is writing; it changes only under mu.
type writerState uint8

const (
	writerIdle      writerState = iota // nobody: the next appender tries a non-blocking write
	writerInline                       // an appender is making its non-blocking attempt
	writerGoroutine                    // the writer goroutine owns the socket until buf is empty
)

const writeTimeout = 30 * time.Second

// inlineRounds bounds how often one appender writes what others appended meanwhile before it hands
// the rest to the writer goroutine (an actor must not become the connection's writer for long).
const inlineRounds = 4

func newFrameWriter(conn net.Conn) *frameWriter {
	w := &frameWriter{conn: conn, wake: make(chan struct{}, 1), done: make(chan struct{}), writeTimeout: writeTimeout, linger: writeLinger}
	if raw, ok := rawConnOf(conn); ok {
		w.raw = raw
		w.try.fn = w.try.write // bound once: a closure per attempt would allocate
	}
	return w
}

// append runs enc with the pending buffer and gets it written. enc must only append.
// It returns false when the writer is closed (the frames are dropped: the peer is gone).
func (w *frameWriter) append(enc func(b []byte) []byte) bool {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return false
	}
	w.buf = enc(w.buf)
	switch {
	case w.state != writerIdle:
		w.mu.Unlock() // the current writer takes these frames with its next write
	case w.raw == nil:
		w.state = writerGoroutine
		w.mu.Unlock()
		w.kick()
	default:
		w.state = writerInline
		w.mu.Unlock()
		w.writeInline()
	}
	return true
}

// writeLinger is how long appendLazy lets frames wait for others to share their write.
//
// Every write(2) on a loopback or LAN socket costs the broker far more than the frame it carries (the
// kernel runs the peer's receive path in the writer's context and wakes the peer): profiling a
// pipelined producer at full load put a fifth of the broker's CPU in writing its dispositions, one
// write for every 4–5 messages. Lingering bounds those writes to one per writeLinger per connection,
// which a pipelined producer, with many more publishes in flight, never notices.
const writeLinger = 200 * time.Microsecond

// appendLazy is append for frames that may wait up to writeLinger for company: a producer's
// dispositions while more of its publishes are still in flight (link_receiver.go). When nothing was
// written for writeLinger it writes at once, as append does; otherwise a timer writes what has
// gathered by then, unless another write takes it along first. Over TLS and pipes it is append.
func (w *frameWriter) appendLazy(enc func(b []byte) []byte) bool {
	w.mu.Lock()
	if w.raw == nil || w.closed || w.state != writerIdle {
		w.mu.Unlock()
		return w.append(enc)
	}
	wait := w.linger - time.Since(w.lastSent)
	if wait <= 0 && !w.lazyArmed {
		w.mu.Unlock()
		return w.append(enc)
	}
	w.buf = enc(w.buf)
	if !w.lazyArmed {
		w.lazyArmed = true
		if w.lazyTimer == nil {
			w.lazyTimer = time.AfterFunc(wait, w.flushLazy)
		} else {
			w.lazyTimer.Reset(wait)
		}
	}
	w.mu.Unlock()
	return true
}

// flushLazy writes what appendLazy left waiting, unless a write has taken it along already.
func (w *frameWriter) flushLazy() {
	w.mu.Lock()
	w.lazyArmed = false
	if w.closed || w.state != writerIdle || len(w.buf) == 0 {
		w.mu.Unlock()
		return
	}
	w.state = writerInline
	w.mu.Unlock()
	w.writeInline()
}

// writeInline is the appender's non-blocking attempt; it runs in state writerInline.
func (w *frameWriter) writeInline() {
	for range inlineRounds {
		w.mu.Lock()
		out := w.buf
		if len(out) == 0 {
			w.state = writerIdle
			closed := w.closed
			w.mu.Unlock()
			if closed {
				w.kick() // close is waiting for the goroutine to see the end
			}
			return
		}
		w.buf = w.spare[:0]
		w.mu.Unlock()

		n, err := w.tryWrite(out)
		w.count(n)

		w.mu.Lock()
		if n > 0 {
			w.lastSent = time.Now()
		}
		if err != nil {
			w.failLocked(err)
			w.mu.Unlock()
			w.kick()
			return
		}
		if n < len(out) {
			// The socket is full: the rest goes first, before what was appended meanwhile, and the
			// writer goroutine takes over (it may block).
			rest := copy(out, out[n:])
			out = append(out[:rest], w.buf...)
			w.spare, w.buf = w.buf[:0], out
			w.state = writerGoroutine
			w.mu.Unlock()
			w.kick()
			return
		}
		w.spare = reuse(out)
		w.mu.Unlock()
	}
	w.mu.Lock()
	w.state = writerGoroutine // still more: the goroutine goes on
	w.mu.Unlock()
	w.kick()
}

// tryWrite makes one non-blocking write(2) of p: it returns how much the socket took (0 when it is
// full), never waiting for it to drain.
func (w *frameWriter) tryWrite(p []byte) (int, error) {
	w.try.p = p
	err := w.raw.Write(w.try.fn)
	n, werr := w.try.n, w.try.err
	w.try.p = nil
	if err != nil {
		return 0, err
	}
	if n < 0 {
		n = 0
	}
	if errors.Is(werr, syscall.EAGAIN) {
		return n, nil
	}
	return n, werr
}

// rawAttempt is one non-blocking write(2) of p through syscall.RawConn.Write.
type rawAttempt struct {
	p   []byte
	n   int
	err error
	fn  func(fd uintptr) bool
}

func (a *rawAttempt) write(fd uintptr) bool {
	for {
		a.n, a.err = rawWrite(int(fd), a.p)
		if a.err != syscall.EINTR {
			return true // done, whatever happened: never wait for writability here
		}
	}
}

func (w *frameWriter) count(n int) {
	if n > 0 && w.bytesSent != nil {
		w.bytesSent.Add(int64(n))
	}
}

// reuse keeps a written buffer for the next burst unless a burst of large messages made it huge.
func reuse(b []byte) []byte {
	if cap(b) > 1<<20 {
		return nil
	}
	return b[:0]
}

func (w *frameWriter) kick() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// frame appends one performative as an AMQP frame on channel ch.
func (w *frameWriter) frame(ch uint16, p protocol.Performative) {
	w.append(func(b []byte) []byte {
		out, err := protocol.AppendFrame(b, ch, p)
		if err != nil {
			// Our own performatives always encode; an error here is a bug, not a peer fault.
			panic("warren: encoding our own " + describe(p) + ": " + err.Error())
		}
		return out
	})
}

// setHeartbeat starts sending empty frames when nothing else was sent for d (spec 2.4.5).
func (w *frameWriter) setHeartbeat(d time.Duration) {
	w.mu.Lock()
	w.heartbeat = d
	w.mu.Unlock()
	w.kick()
}

// run is the writer goroutine. It writes whenever it owns the socket (state writerGoroutine), sends
// heartbeats, and returns when close is called (after flushing) or the socket fails.
func (w *frameWriter) run() {
	defer close(w.done)
	var timer *time.Timer
	var tick <-chan time.Time
	for {
		select {
		case <-w.wake:
		case <-tick:
		}
		w.mu.Lock()
		hb := w.heartbeat
		for w.state != writerInline {
			if len(w.buf) == 0 && hb > 0 && !w.closed && time.Since(w.lastSent) >= hb {
				w.buf = protocol.AppendEmptyFrame(w.buf)
			}
			if len(w.buf) == 0 || w.err != nil {
				w.state = writerIdle
				break
			}
			w.state = writerGoroutine
			out := w.buf
			w.buf = w.spare[:0]
			w.mu.Unlock()
			_ = w.conn.SetWriteDeadline(time.Now().Add(w.writeTimeout))
			n, err := w.conn.Write(out)
			w.count(n)
			w.mu.Lock()
			w.lastSent = time.Now()
			w.spare = reuse(out)
			if err != nil {
				w.failLocked(err)
			}
		}
		finished := (w.closed && w.state == writerIdle) || w.err != nil
		// The next heartbeat is due hb after the last write, whoever made it (appenders write
		// without waking this goroutine).
		next := hb - time.Since(w.lastSent)
		w.mu.Unlock()
		if finished {
			return
		}
		if hb > 0 {
			next = max(next, time.Millisecond)
			if timer == nil {
				timer = time.NewTimer(next)
				tick = timer.C
			} else {
				timer.Reset(next)
			}
		}
	}
}

// failLocked records a write failure: nothing more is written.
func (w *frameWriter) failLocked(err error) {
	w.closed = true
	if w.err == nil {
		w.err = err
	}
	w.buf = nil
	w.state = writerIdle
}

// close flushes what is pending and stops the loop; it waits at most the write timeout.
func (w *frameWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.kick()
	<-w.done
}
