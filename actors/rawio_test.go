package actors

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	server = <-accepted
	require.NotNil(t, server)
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// The raw reader behaves as the net.Conn it replaces: data, then the read deadline as a timeout, then
// the peer's close as io.EOF, then the local close as net.ErrClosed.
func TestRawReaderLikeConn(t *testing.T) {
	client, server := tcpPair(t)
	r := readerFor(server)
	require.IsType(t, &rawReader{}, r)

	go func() { _, _ = client.Write([]byte("hello, raw")) }()
	buf := make([]byte, 64)
	n, err := io.ReadAtLeast(r, buf, 10)
	require.NoError(t, err)
	require.Equal(t, "hello, raw", string(buf[:n]))

	require.NoError(t, server.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
	_, err = r.Read(buf)
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "a passed deadline is a timeout: %v", err)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.NoError(t, server.SetReadDeadline(time.Time{}))

	require.NoError(t, client.Close())
	_, err = r.Read(buf)
	require.ErrorIs(t, err, io.EOF)

	require.NoError(t, server.Close())
	_, err = r.Read(buf)
	require.ErrorIs(t, err, net.ErrClosed)
}

// A read blocked in the poller ends when the connection is closed under it.
func TestRawReaderCloseUnblocks(t *testing.T) {
	_, server := tcpPair(t)
	r := readerFor(server)
	done := make(chan error, 1)
	go func() {
		_, err := r.Read(make([]byte, 16))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, server.Close())
	select {
	case err := <-done:
		require.ErrorIs(t, err, net.ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("read did not end on close")
	}
}

// Connections without a raw socket (TLS, pipes) are read as they are.
func TestRawReaderFallback(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	require.Equal(t, io.Reader(a), readerFor(a))
}

// rawWrite reports a full socket as EAGAIN instead of blocking.
func TestRawWriteNonBlocking(t *testing.T) {
	_, server := tcpPair(t)
	sc, err := server.(*net.TCPConn).SyscallConn()
	require.NoError(t, err)
	chunk := make([]byte, 1<<16)
	var total int
	var last error
	require.NoError(t, sc.Write(func(fd uintptr) bool {
		for range 10000 { // the peer reads nothing: the socket buffers fill up
			n, err := rawWrite(int(fd), chunk)
			if err != nil {
				last = err
				return true
			}
			total += n
		}
		return true
	}))
	require.Greater(t, total, 0)
	require.ErrorIs(t, last, syscall.EAGAIN)
}

// A socket error comes back as net.Conn reports it: a *net.OpError naming the addresses.
func TestRawReaderSocketError(t *testing.T) {
	client, server := tcpPair(t)
	r := readerFor(server)
	require.NoError(t, client.(*net.TCPConn).SetLinger(0))
	require.NoError(t, client.Close()) // linger 0: the close is a reset
	time.Sleep(20 * time.Millisecond)
	_, err := r.Read(make([]byte, 16))
	var oe *net.OpError
	require.True(t, errors.As(err, &oe), "%T: %v", err, err)
	require.Equal(t, "read", oe.Op)
	require.Equal(t, server.RemoteAddr().String(), oe.Addr.String())
	require.ErrorIs(t, err, syscall.ECONNRESET)
}
