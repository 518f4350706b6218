package actors

import (
	"io"
	"net"
	"os"
	"syscall"
)

// Raw socket I/O for the connection hot path, written here because nothing in the standard library or
// golang.org/x/sys offers it: read(2) and write(2) on Warren's non-blocking sockets without the
// runtime's syscall bookkeeping (entersyscall/exitsyscall).
//
// Why: Go's scheduler monitor (sysmon) looks at every P in a syscall every 20 µs and hands a P that
// stayed in one to another thread. A loopback write does the receiver's TCP processing too and often
// takes longer than that, so under load Ps were handed off over and over: a futex wake-up and two
// context switches each time, and sysmon itself never backed off its 20 µs tick (perf on the daemon at
// full load: 19 % of its samples in finish_task_switch, a third of those sysmon's own sleeps). The
// sockets are non-blocking (the runtime's poller set O_NONBLOCK), so these calls return EAGAIN instead of
// blocking; a call holds its P only for the copy (up to about a millisecond for a write that fills a
// large send buffer, which a GC stop-the-world then waits for). Waiting for readiness still goes
// through the poller (syscall.RawConn), so deadlines and Close work as for any net.Conn. On other Unix
// systems, and under the race detector, the plain syscall package is used (rawio_other.go): its calls
// carry the detector's happens-before annotations for I/O, which raw calls would lose. On Windows
// connections use net.Conn's Read and Write (rawio_plain.go).

// rawReader reads a TCP or Unix socket with rawRead, waiting for readability through the runtime's
// poller. It is the connection's io.Reader for the frame reader on plain (non-TLS) sockets; one
// goroutine reads at a time (the connection's read loop), so its state needs no lock.
type rawReader struct {
	raw syscall.RawConn
	// for errors, as net.Conn reports them
	net           string
	local, remote net.Addr

	p   []byte
	n   int
	err error
	fn  func(fd uintptr) bool // bound once: a closure per read would allocate
}

// readerFor returns conn's reader for the frame reader: a rawReader where the connection has a raw
// socket, conn itself otherwise (TLS, net.Pipe).
func readerFor(conn net.Conn) io.Reader {
	raw, ok := rawConnOf(conn)
	if !ok {
		return conn
	}
	r := &rawReader{raw: raw, net: conn.LocalAddr().Network(), local: conn.LocalAddr(), remote: conn.RemoteAddr()}
	r.fn = r.attempt
	return r
}

// rawConnOf returns conn's socket for rawRead and rawWrite, or false where there is none to use: a
// TLS connection or net.Pipe, or a platform whose sockets are not non-blocking file descriptors
// (rawSockets false: Windows, whose overlapped socket handles would make a plain read block).
func rawConnOf(conn net.Conn) (syscall.RawConn, bool) {
	if !rawSockets {
		return nil, false
	}
	sc, ok := conn.(syscall.Conn) // *net.TCPConn, *net.UnixConn; not *tls.Conn
	if !ok {
		return nil, false
	}
	raw, err := sc.SyscallConn()
	return raw, err == nil
}

func (r *rawReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r.p = p
	err := r.raw.Read(r.fn) // deadlines and Close come back here as the poller's errors
	n, rerr := r.n, r.err
	r.p, r.err = nil, nil
	switch {
	case err != nil:
		return 0, err
	case rerr != nil:
		return 0, &net.OpError{Op: "read", Net: r.net, Source: r.local, Addr: r.remote, Err: os.NewSyscallError("read", rerr)}
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// attempt is one read; false asks the poller to wait for readability and call it again.
func (r *rawReader) attempt(fd uintptr) bool {
	for {
		n, err := rawRead(int(fd), r.p)
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		r.n, r.err = n, err
		return true
	}
}
