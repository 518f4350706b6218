package actors

import (
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readN reads exactly n bytes from c within a second.
func readN(t *testing.T, c io.Reader, n int) string {
	t.Helper()
	buf := make([]byte, n)
	_, err := io.ReadFull(c, buf)
	require.NoError(t, err)
	return string(buf)
}

func appendStr(s string) func([]byte) []byte {
	return func(b []byte) []byte { return append(b, s...) }
}

// appendLazy writes at once after a quiet spell, lets frames that follow a write closely wait at most
// about writeLinger, lets any other write take them along, and never loses them at close.
func TestFrameWriterLazy(t *testing.T) {
	client, server := tcpPair(t)
	require.NoError(t, client.SetReadDeadline(time.Now().Add(5*time.Second)))
	w := newFrameWriter(server)
	require.NotNil(t, w.raw, "a TCP connection gets raw writes")
	go w.run()

	// Quiet socket: written at once, no timer.
	require.True(t, w.appendLazy(appendStr("a")))
	assert.Equal(t, "a", readN(t, client, 1))
	w.mu.Lock()
	assert.False(t, w.lazyArmed)
	w.mu.Unlock()

	// Right after a write: it waits for the timer, and two lazy frames share one write. (A long
	// linger keeps a slow test machine from writing "b" before "c" is appended.)
	w.mu.Lock()
	w.linger, w.lastSent = 300*time.Millisecond, time.Now()
	w.mu.Unlock()
	require.True(t, w.appendLazy(appendStr("b")))
	require.True(t, w.appendLazy(appendStr("c")))
	w.mu.Lock()
	armed, pending := w.lazyArmed, string(w.buf)
	w.mu.Unlock()
	assert.True(t, armed)
	assert.Equal(t, "bc", pending, "nothing written yet")
	assert.Equal(t, "bc", readN(t, client, 2), "the linger timer wrote them")

	// An ordinary append takes lazy frames along, in order.
	require.True(t, w.appendLazy(appendStr("d")))
	require.True(t, w.append(appendStr("e")))
	assert.Equal(t, "de", readN(t, client, 2))

	// Close flushes what is still waiting.
	require.True(t, w.appendLazy(appendStr("f")))
	w.close()
	assert.Equal(t, "f", readN(t, client, 1))
	assert.False(t, w.appendLazy(appendStr("g")), "closed")
	time.Sleep(2 * 300 * time.Millisecond) // a timer firing after close writes nothing
	require.NoError(t, client.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
	n, _ := client.Read(make([]byte, 1))
	assert.Zero(t, n)
}
