package actors

import (
	"net"
	"sync"
	"time"

	"github.com/warren-mq/warren/protocol"
	"go.opentelemetry.io/otel/metric"
)

// frameWriter owns the write side of one connection's socket. Actors (connection, sessions, links)
// append whole encoded frames under a short lock; one goroutine swaps the buffer out and writes it, so
// every burst of frames costs one write syscall (nats-server's flush-per-burst, RabbitMQ's writer).
//
// Memory stays bounded by the protocol, not by the writer: what sessions may send is limited by the
// peer's session window and link credit (DESIGN.md §1: "backpressure comes from link credit and session
// windows"), and when the socket stalls past writeTimeout the connection is dropped.
type frameWriter struct {
	conn net.Conn

	mu       sync.Mutex
	buf      []byte
	closed   bool
	err      error
	lastSent time.Time

	wake chan struct{} // capacity 1: "there is something to write"
	done chan struct{} // closed when the loop exits

	heartbeat    time.Duration // send an empty frame when idle this long (half the peer's idle-time-out); 0 = never
	writeTimeout time.Duration
	bytesSent    metric.Int64Counter // nil = not counted
}

const writeTimeout = 30 * time.Second

func newFrameWriter(conn net.Conn) *frameWriter {
	return &frameWriter{conn: conn, wake: make(chan struct{}, 1), done: make(chan struct{}), writeTimeout: writeTimeout}
}

// append runs enc with the pending buffer and schedules a flush. enc must only append.
// It returns false when the writer is closed (the frames are dropped: the peer is gone).
func (w *frameWriter) append(enc func(b []byte) []byte) bool {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return false
	}
	w.buf = enc(w.buf)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return true
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
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// run is the writer goroutine. It returns when close is called (after flushing) or the socket fails.
func (w *frameWriter) run() {
	defer close(w.done)
	var spare []byte
	var timer *time.Timer
	var tick <-chan time.Time
	for {
		select {
		case <-w.wake:
		case <-tick:
		}
		w.mu.Lock()
		out := w.buf
		w.buf = spare[:0]
		closed := w.closed
		hb := w.heartbeat
		if len(out) == 0 && hb > 0 && time.Since(w.lastSent) >= hb {
			out = protocol.AppendEmptyFrame(out)
		}
		if len(out) > 0 {
			w.lastSent = time.Now()
		}
		w.mu.Unlock()
		if len(out) > 0 {
			_ = w.conn.SetWriteDeadline(time.Now().Add(w.writeTimeout))
			if _, err := w.conn.Write(out); err != nil {
				w.fail(err)
				return
			}
			if w.bytesSent != nil {
				w.bytesSent.Add(bg, int64(len(out)))
			}
		}
		spare = out
		if cap(spare) > 1<<20 {
			spare = nil // do not pin a huge buffer after a burst of large messages
		}
		if closed {
			return
		}
		if hb > 0 {
			if timer == nil {
				timer = time.NewTimer(hb)
				tick = timer.C
			} else {
				timer.Reset(hb)
			}
		}
	}
}

func (w *frameWriter) fail(err error) {
	w.mu.Lock()
	w.closed = true
	if w.err == nil {
		w.err = err
	}
	w.buf = nil
	w.mu.Unlock()
}

// close flushes what is pending and stops the loop; it waits at most the write timeout.
func (w *frameWriter) close() {
	w.mu.Lock()
	already := w.closed
	w.closed = true
	w.mu.Unlock()
	if !already {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	<-w.done
}
