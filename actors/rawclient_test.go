package actors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/protocol"
)

// Frame-level tests: a scripted client writes exact bytes to a real broker and checks the exact AMQP
// answer, then a normal go-amqp client proves the broker still serves (one bad peer must not hurt others).

// rawIO bounds every read and write of the scripted client.
const rawIO = 5 * time.Second

type rawClient struct {
	t  *testing.T
	nc net.Conn
	fr *protocol.FrameReader
}

// rawDial opens a TCP connection to b and sends nothing yet.
func rawDial(t *testing.T, b *Broker) *rawClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", b.Addr().String(), rawIO)
	require.NoError(t, err)
	t.Cleanup(func() { _ = nc.Close() })
	return &rawClient{t: t, nc: nc, fr: protocol.NewFrameReader(nc, 16<<20)}
}

// rawOpen dials, exchanges the plain AMQP header (no SASL) and opens with open; it returns the broker's open.
func rawOpen(t *testing.T, b *Broker, open *protocol.Open) (*rawClient, *protocol.Open) {
	t.Helper()
	c := rawDial(t, b)
	c.write(protocol.AppendProtoHeader(nil, protocol.ProtoAMQP))
	hdr := c.readHeader()
	require.Equal(t, protocol.ProtoHeader{ID: protocol.ProtoAMQP, Major: 1}, hdr)
	if open == nil {
		open = &protocol.Open{ContainerID: "raw-client", ChannelMax: 65535}
	}
	c.send(0, open)
	ch, p := c.next()
	require.Equal(t, uint16(0), ch)
	peer, ok := p.(*protocol.Open)
	require.Truef(t, ok, "expected open, got %T %+v", p, p)
	return c, peer
}

// rawBegin begins a session on ch and waits for the broker's begin.
func (c *rawClient) begin(ch uint16) *protocol.Begin {
	c.t.Helper()
	c.send(ch, &protocol.Begin{NextOutgoingID: 0, IncomingWindow: 100, OutgoingWindow: 100, HandleMax: 4294967295})
	got := expectFrame[*protocol.Begin](c)
	require.True(c.t, got.RemoteChannel.Set)
	require.Equal(c.t, ch, got.RemoteChannel.V)
	return got
}

func (c *rawClient) write(b []byte) {
	c.t.Helper()
	require.NoError(c.t, c.nc.SetWriteDeadline(time.Now().Add(rawIO)))
	_, err := c.nc.Write(b)
	require.NoError(c.t, err)
}

func (c *rawClient) send(ch uint16, p protocol.Performative) {
	c.t.Helper()
	out, err := protocol.AppendFrame(nil, ch, p)
	require.NoError(c.t, err)
	c.write(out)
}

func (c *rawClient) sendSASL(p protocol.SASLFrameBody) {
	c.t.Helper()
	out, err := protocol.AppendSASLFrame(nil, p)
	require.NoError(c.t, err)
	c.write(out)
}

func (c *rawClient) readHeader() protocol.ProtoHeader {
	c.t.Helper()
	require.NoError(c.t, c.nc.SetReadDeadline(time.Now().Add(rawIO)))
	h, err := c.fr.ReadProtoHeader()
	require.NoError(c.t, err)
	return h
}

// next returns the next AMQP frame's channel and performative, skipping heartbeats.
func (c *rawClient) next() (uint16, protocol.Performative) {
	c.t.Helper()
	require.NoError(c.t, c.nc.SetReadDeadline(time.Now().Add(rawIO)))
	for {
		f, err := c.fr.ReadFrame()
		require.NoError(c.t, err, "reading a frame from the broker")
		if len(f.Body) == 0 {
			continue
		}
		require.Equal(c.t, uint8(protocol.FrameTypeAMQP), f.Type)
		p, _, err := protocol.DecodeFrameBody(f.Body)
		require.NoError(c.t, err)
		return f.Channel, p
	}
}

func (c *rawClient) nextSASL() protocol.SASLFrameBody {
	c.t.Helper()
	require.NoError(c.t, c.nc.SetReadDeadline(time.Now().Add(rawIO)))
	f, err := c.fr.ReadFrame()
	require.NoError(c.t, err, "reading a SASL frame from the broker")
	require.Equal(c.t, uint8(protocol.FrameTypeSASL), f.Type)
	p, err := protocol.DecodeSASLFrameBody(f.Body)
	require.NoError(c.t, err)
	return p
}

// expectFrame reads frames until one of type T arrives; a close before it fails the test with its error.
func expectFrame[T protocol.Performative](c *rawClient) T {
	c.t.Helper()
	for range 100 {
		_, p := c.next()
		if v, ok := p.(T); ok {
			return v
		}
		if cl, ok := p.(*protocol.Close); ok {
			var zero T
			require.Failf(c.t, "connection closed", "waiting for %T, the broker closed: %v", zero, cl.Error)
		}
	}
	var zero T
	require.Failf(c.t, "no frame", "no %T in 100 frames", zero)
	return zero
}

// expectClose reads until the broker's close, checks its error condition and that the socket closes.
func (c *rawClient) expectClose(cond protocol.Symbol) *protocol.Error {
	c.t.Helper()
	cl := expectFrame[*protocol.Close](c)
	require.NotNil(c.t, cl.Error, "close without an error, want %s", cond)
	assert.Equal(c.t, cond, cl.Error.Condition, "close error: %v", cl.Error)
	c.expectEOF()
	return cl.Error
}

// expectEOF reads until the broker closes the socket: heartbeats may come, nothing else.
func (c *rawClient) expectEOF() {
	c.t.Helper()
	require.NoError(c.t, c.nc.SetReadDeadline(time.Now().Add(rawIO)))
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			require.Truef(c.t, isClosedErr(err), "want the broker to close the socket, got %v", err)
			return
		}
		require.Emptyf(c.t, f.Body, "unexpected frame after close: type %d channel %d", f.Type, f.Channel)
	}
}

// readAll reads raw bytes until the broker closes the socket (or rawIO passes, which fails the test).
func (c *rawClient) readAll() []byte {
	c.t.Helper()
	require.NoError(c.t, c.nc.SetReadDeadline(time.Now().Add(rawIO)))
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := c.nc.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			require.Truef(c.t, isClosedErr(err), "want the broker to close the socket, got %v (read %q)", err, out)
			return out
		}
		require.Less(c.t, len(out), 1<<16, "the broker keeps sending")
	}
}

func isClosedErr(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	// EOF, or a reset when the broker closed with our unread bytes still in its buffer.
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, new(*net.OpError))
}

var healthSeq atomic.Uint64

// assertBrokerServes proves a normal client still sends and receives on b.
func assertBrokerServes(t *testing.T, b *Broker) {
	t.Helper()
	q := fmt.Sprintf("raw-health-%d", healthSeq.Add(1))
	c := dial(t, b, nil)
	s := newSess(t, c)
	snd := sender(t, s, q, nil)
	send(t, snd, "still serving")
	r := receiver(t, s, q, nil)
	m := recv(t, r)
	require.NoError(t, r.AcceptMessage(testCtx(t), m))
	assert.Equal(t, "still serving", string(m.GetData()))
	require.NoError(t, c.Close())
}

// frameHeader is a raw 8-byte frame header: size, doff, type, channel (spec 2.3.1).
func frameHeader(size uint32, doff, typ uint8, ch uint16) []byte {
	h := make([]byte, 8)
	binary.BigEndian.PutUint32(h[0:4], size)
	h[4], h[5] = doff, typ
	binary.BigEndian.PutUint16(h[6:8], ch)
	return h
}

func rawFrame(body []byte) []byte {
	return append(frameHeader(uint32(8+len(body)), 2, protocol.FrameTypeAMQP, 0), body...)
}

// spec 2.8.17 / 2.7.5: a transfer on a handle that is not attached ends the session with
// unattached-handle; the connection lives on and the channel can be begun again.
func TestRawTransferOnUnattachedHandle(t *testing.T) {
	b := startBroker(t)
	c, _ := rawOpen(t, b, nil)
	c.begin(0)
	out, err := protocol.AppendTransferFrame(nil, 0, &protocol.Transfer{
		Handle: 7, DeliveryID: protocol.Some[uint32](0), DeliveryTag: []byte("t0"),
		MessageFormat: protocol.Some[uint32](0),
	}, []byte{0x00, 0x53, 0x77, 0xa1, 0x02, 'h', 'i'})
	require.NoError(t, err)
	c.write(out)

	end := expectFrame[*protocol.End](c)
	require.NotNil(t, end.Error)
	assert.Equal(t, protocol.ErrUnattachedHandle, end.Error.Condition)

	// Complete the end exchange; the connection is still usable.
	c.send(0, &protocol.End{})
	c.begin(0)
	c.send(0, &protocol.End{})
	expectFrame[*protocol.End](c)
	c.send(0, &protocol.Close{})
	cl := expectFrame[*protocol.Close](c)
	assert.Nil(t, cl.Error)

	assertBrokerServes(t, b)
}

// spec 2.7.1 / 2.3.1: a frame larger than our max-frame-size is a framing error; the header is checked
// before anything is read or allocated, so a 2 GiB claim costs nothing.
func TestRawOversizedFrame(t *testing.T) {
	b := startBroker(t)
	t.Run("after open", func(t *testing.T) {
		c, peer := rawOpen(t, b, nil)
		require.Equal(t, DefaultLimits.MaxFrameSize, peer.MaxFrameSize)
		c.write(frameHeader(2<<30, 2, protocol.FrameTypeAMQP, 0))
		c.expectClose(protocol.ErrFramingError)
	})
	t.Run("instead of open", func(t *testing.T) {
		c := rawDial(t, b)
		c.write(protocol.AppendProtoHeader(nil, protocol.ProtoAMQP))
		c.readHeader()
		c.write(frameHeader(2<<30, 2, protocol.FrameTypeAMQP, 0))
		// spec 2.4.1: the broker sends its open before the close.
		expectFrame[*protocol.Open](c)
		c.expectClose(protocol.ErrFramingError)
	})
	t.Run("just over the limit", func(t *testing.T) {
		c, _ := rawOpen(t, b, nil)
		c.write(frameHeader(DefaultLimits.MaxFrameSize+1, 2, protocol.FrameTypeAMQP, 0))
		c.expectClose(protocol.ErrFramingError)
	})
	assertBrokerServes(t, b)
}

// Malformed frame headers other than the size (spec 2.3.1): doff below 2, an unknown frame type.
func TestRawMalformedFrameHeader(t *testing.T) {
	b := startBroker(t)
	cases := map[string][]byte{
		"doff below 2":          frameHeader(8, 1, protocol.FrameTypeAMQP, 0),
		"size below the header": frameHeader(4, 2, protocol.FrameTypeAMQP, 0),
		"unknown frame type":    append(frameHeader(12, 2, 0x07, 0), 0, 0, 0, 0),
		"SASL frame after open": append(frameHeader(11, 2, protocol.FrameTypeSASL, 0), 0x00, 0x53, 0x45),
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			c, _ := rawOpen(t, b, nil)
			c.write(raw)
			c.expectClose(protocol.ErrFramingError)
		})
	}
	assertBrokerServes(t, b)
}

// A well-framed body that is not a valid performative is amqp:decode-error (spec 2.8.15), and the
// connection closes: the stream can no longer be trusted.
func TestRawGarbageBody(t *testing.T) {
	b := startBroker(t)
	cases := map[string][]byte{
		"random bytes":          {0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03},
		"not described":         {0xa1, 0x03, 'a', 'b', 'c'},
		"unknown descriptor":    {0x00, 0x53, 0x99, 0x45},
		"SASL body in AMQP":     {0x00, 0x53, 0x40, 0x45},
		"truncated begin":       {0x00, 0x53, 0x11, 0xc0, 0x10, 0x04, 0x40},
		"begin, wrong type":     {0x00, 0x53, 0x11, 0xc0, 0x05, 0x02, 0x40, 0xa1, 0x01, 'x'},
		"bytes after a flow":    {0x00, 0x53, 0x13, 0x45, 0xff, 0xff},
		"list count past bytes": {0x00, 0x53, 0x16, 0xd0, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x09},
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			c, _ := rawOpen(t, b, nil)
			c.write(rawFrame(body))
			c.expectClose(protocol.ErrDecodeError)
		})
	}
	assertBrokerServes(t, b)
}

// spec 2.2: a peer that does not speak our protocol gets our protocol header and the socket closes.
func TestRawNotAMQP(t *testing.T) {
	b := startBroker(t)
	cases := map[string][]byte{
		"HTTP request":      []byte("GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: raw\r\n\r\n"),
		"AMQP 0 2 0 0":      {'A', 'M', 'Q', 'P', 0, 2, 0, 0},
		"AMQP 0-9-1 header": {'A', 'M', 'Q', 'P', 0, 0, 9, 1},
		"AMQP 1.1":          {'A', 'M', 'Q', 'P', 0, 1, 1, 0},
		"TLS id":            {'A', 'M', 'Q', 'P', 2, 1, 0, 0},
		"unknown id":        {'A', 'M', 'Q', 'P', 9, 1, 0, 0},
	}
	for name, hello := range cases {
		t.Run(name, func(t *testing.T) {
			c := rawDial(t, b)
			c.write(hello)
			got := c.readAll()
			require.Len(t, got, 8, "want exactly one protocol header, got %q", got)
			h, err := protocol.ParseProtoHeader([8]byte(got))
			require.NoError(t, err)
			assert.Equal(t, uint8(1), h.Major)
			assert.Equal(t, uint8(0), h.Minor)
			assert.Equal(t, uint8(0), h.Revision)
			assert.Contains(t, []protocol.ProtoID{protocol.ProtoAMQP, protocol.ProtoSASL}, h.ID)
		})
	}
	assertBrokerServes(t, b)
}

// A connection that never sends a byte is dropped after the handshake timeout.
func TestRawHandshakeTimeout(t *testing.T) {
	b := startBroker(t, func(o *Options) { o.Limits.HandshakeTimeout = 300 * time.Millisecond })
	t.Run("silent", func(t *testing.T) {
		c := rawDial(t, b)
		start := time.Now()
		got := c.readAll()
		elapsed := time.Since(start)
		assert.GreaterOrEqual(t, elapsed, 250*time.Millisecond, "closed before the handshake timeout")
		assert.Less(t, elapsed, 3*time.Second, "closed long after the handshake timeout")
		// Nothing, or at most the header the broker wants (spec 2.2), may come before the close.
		if len(got) > 0 {
			require.Len(t, got, 8, "got %q", got)
			_, err := protocol.ParseProtoHeader([8]byte(got))
			require.NoError(t, err)
		}
	})
	t.Run("header but no open", func(t *testing.T) {
		c := rawDial(t, b)
		start := time.Now()
		c.write(protocol.AppendProtoHeader(nil, protocol.ProtoAMQP))
		c.readHeader()
		rest := c.readAll()
		assert.Less(t, time.Since(start), 3*time.Second)
		// Whatever the broker says before it hangs up must be well-formed frames (open, close).
		fr := protocol.NewFrameReader(bytesReader(rest), 1<<20)
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				require.ErrorIs(t, err, io.EOF)
				break
			}
			_, _, err = protocol.DecodeFrameBody(f.Body)
			require.NoError(t, err)
		}
	})
	assertBrokerServes(t, b)
}

type byteSliceReader struct{ b []byte }

func bytesReader(b []byte) io.Reader { return &byteSliceReader{b: b} }

func (r *byteSliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// spec 2.4.5: the broker announces its idle-time-out and closes with resource-limit-exceeded when the
// peer sends nothing (not even a heartbeat) for that long.
func TestRawIdleTimeout(t *testing.T) {
	b := startBroker(t, func(o *Options) { o.Limits.IdleTimeout = 300 * time.Millisecond })
	c, peer := rawOpen(t, b, nil)
	assert.Equal(t, uint32(300), peer.IdleTimeout)
	c.begin(0)
	start := time.Now()
	c.expectClose(protocol.ErrResourceLimitExceeded)
	elapsed := time.Since(start)
	assert.GreaterOrEqual(t, elapsed, 200*time.Millisecond)
	assert.Less(t, elapsed, 4*time.Second)

	t.Run("heartbeats keep it open", func(t *testing.T) {
		c, _ := rawOpen(t, b, nil)
		c.begin(0)
		for range 16 {
			time.Sleep(50 * time.Millisecond)
			c.write(frameHeader(8, 2, protocol.FrameTypeAMQP, 0)) // an empty frame (spec 2.3.2)
		}
		c.send(0, &protocol.End{})
		expectFrame[*protocol.End](c)
	})
	// go-amqp heartbeats at half the broker's idle-time-out, so it stays connected.
	assertBrokerServes(t, b)
}

// sasl runs the SASL layer up to the outcome with one init frame (spec 5.3.2).
func rawSASL(t *testing.T, b *Broker, init *protocol.SASLInit) (*rawClient, *protocol.SASLOutcome) {
	t.Helper()
	c := rawDial(t, b)
	c.write(protocol.AppendProtoHeader(nil, protocol.ProtoSASL))
	require.Equal(t, protocol.ProtoHeader{ID: protocol.ProtoSASL, Major: 1}, c.readHeader())
	mechs, ok := c.nextSASL().(*protocol.SASLMechanisms)
	require.True(t, ok, "want sasl-mechanisms")
	assert.Contains(t, mechs.Mechanisms, protocol.Symbol("PLAIN"))
	assert.Contains(t, mechs.Mechanisms, protocol.Symbol("ANONYMOUS"))
	c.sendSASL(init)
	out, ok := c.nextSASL().(*protocol.SASLOutcome)
	require.True(t, ok, "want sasl-outcome")
	return c, out
}

func TestRawSASL(t *testing.T) {
	// Many deliberate failures from one address: the failed-login limiter has its own test.
	b := startBroker(t, func(o *Options) { o.Auth.FailedLoginLimit = -1 })
	refused := map[string][]byte{
		"wrong password": []byte("\x00guest\x00wrong"),
		"unknown user":   []byte("\x00nobody\x00guest"),
		"no NULs":        []byte("guestguest"),
		"one NUL":        []byte("guest\x00guest"),
		"empty":          {},
	}
	for name, resp := range refused {
		t.Run(name, func(t *testing.T) {
			c, out := rawSASL(t, b, &protocol.SASLInit{Mechanism: "PLAIN", InitialResponse: resp})
			assert.Equal(t, protocol.SASLAuth, out.Code)
			c.expectEOF() // spec 5.3.2: after a failed outcome the connection closes
		})
	}
	t.Run("unoffered mechanism", func(t *testing.T) {
		c, out := rawSASL(t, b, &protocol.SASLInit{Mechanism: "CRAM-MD5", InitialResponse: []byte("x")})
		assert.Equal(t, protocol.SASLAuth, out.Code)
		c.expectEOF()
	})
	accepted := map[string]*protocol.SASLInit{
		"PLAIN guest/guest":      {Mechanism: "PLAIN", InitialResponse: []byte("\x00guest\x00guest")},
		"PLAIN with an authzid":  {Mechanism: "PLAIN", InitialResponse: []byte("guest\x00guest\x00guest")},
		"ANONYMOUS":              {Mechanism: "ANONYMOUS", InitialResponse: []byte("trace")},
		"ANONYMOUS, no response": {Mechanism: "ANONYMOUS"},
	}
	for name, init := range accepted {
		t.Run(name, func(t *testing.T) {
			c, out := rawSASL(t, b, init)
			require.Equal(t, protocol.SASLOk, out.Code)
			// spec 5.3.1: after the outcome the AMQP layer starts with a fresh protocol header.
			c.write(protocol.AppendProtoHeader(nil, protocol.ProtoAMQP))
			require.Equal(t, protocol.ProtoHeader{ID: protocol.ProtoAMQP, Major: 1}, c.readHeader())
			c.send(0, &protocol.Open{ContainerID: "raw-sasl", ChannelMax: 65535})
			expectFrame[*protocol.Open](c)
			c.send(0, &protocol.Close{})
			cl := expectFrame[*protocol.Close](c)
			assert.Nil(t, cl.Error)
		})
	}
	t.Run("PLAIN via challenge", func(t *testing.T) {
		c := rawDial(t, b)
		c.write(protocol.AppendProtoHeader(nil, protocol.ProtoSASL))
		c.readHeader()
		_ = c.nextSASL()
		c.sendSASL(&protocol.SASLInit{Mechanism: "PLAIN"})
		_, ok := c.nextSASL().(*protocol.SASLChallenge)
		require.True(t, ok, "want an empty sasl-challenge when PLAIN has no initial response")
		c.sendSASL(&protocol.SASLResponse{Response: []byte("\x00guest\x00guest")})
		out, ok := c.nextSASL().(*protocol.SASLOutcome)
		require.True(t, ok)
		assert.Equal(t, protocol.SASLOk, out.Code)
	})

	// go-amqp with SASL PLAIN, right and wrong.
	ctx := testCtx(t)
	good, err := amqp.Dial(ctx, "amqp://"+b.Addr().String(), &amqp.ConnOptions{SASLType: amqp.SASLTypePlain("guest", "guest")})
	require.NoError(t, err)
	require.NoError(t, good.Close())
	_, err = amqp.Dial(ctx, "amqp://"+b.Addr().String(), &amqp.ConnOptions{SASLType: amqp.SASLTypePlain("guest", "nope")})
	require.Error(t, err)
	assertBrokerServes(t, b)
}

// Sessions and channels (spec 2.5.1, 2.7.1, 2.7.2).
func TestRawBeginChannelRules(t *testing.T) {
	b := startBroker(t, func(o *Options) { o.Limits.ChannelMax = 7 })
	t.Run("second begin on a channel in use", func(t *testing.T) {
		c, _ := rawOpen(t, b, nil)
		c.begin(1)
		c.send(1, &protocol.Begin{NextOutgoingID: 0, IncomingWindow: 100, OutgoingWindow: 100, HandleMax: 4294967295})
		c.expectClose(protocol.ErrNotAllowed)
	})
	t.Run("channel above the broker's channel-max", func(t *testing.T) {
		c, peer := rawOpen(t, b, nil)
		require.Equal(t, uint16(7), peer.ChannelMax)
		c.begin(7) // the highest allowed channel
		c.send(8, &protocol.Begin{NextOutgoingID: 0, IncomingWindow: 100, OutgoingWindow: 100, HandleMax: 4294967295})
		// spec 2.7.1 channel-max: a channel number outside the range is a framing-error.
		c.expectClose(protocol.ErrFramingError)
	})
	t.Run("channel above the client's own channel-max", func(t *testing.T) {
		c, _ := rawOpen(t, b, &protocol.Open{ContainerID: "raw-client", ChannelMax: 2})
		c.begin(2)
		c.send(3, &protocol.Begin{NextOutgoingID: 0, IncomingWindow: 100, OutgoingWindow: 100, HandleMax: 4294967295})
		c.expectClose(protocol.ErrFramingError)
	})
	t.Run("frame on a channel without a session", func(t *testing.T) {
		c, _ := rawOpen(t, b, nil)
		c.send(3, &protocol.Flow{NextIncomingID: protocol.Some[uint32](0), IncomingWindow: 10, OutgoingWindow: 10})
		c.expectClose(protocol.ErrFramingError)
	})
	t.Run("begin with remote-channel set", func(t *testing.T) {
		c, _ := rawOpen(t, b, nil)
		c.send(0, &protocol.Begin{RemoteChannel: protocol.Some[uint16](0), IncomingWindow: 100, OutgoingWindow: 100, HandleMax: 4294967295})
		c.expectClose(protocol.ErrNotAllowed)
	})
	t.Run("channel reused after end", func(t *testing.T) {
		c, _ := rawOpen(t, b, nil)
		c.begin(4)
		c.send(4, &protocol.End{})
		expectFrame[*protocol.End](c)
		c.begin(4)
	})
	t.Run("channel reused in the same burst as its end", func(t *testing.T) {
		c, _ := rawOpen(t, b, nil)
		c.send(5, &protocol.Begin{IncomingWindow: 100, OutgoingWindow: 100, HandleMax: 4294967295})
		oldCh, p := c.next()
		require.IsType(t, &protocol.Begin{}, p)
		// End and a new begin in one write: spec 2.5.5, our channel 5 is free once we sent end.
		out, err := protocol.AppendFrame(nil, 5, &protocol.End{})
		require.NoError(t, err)
		out, err = protocol.AppendFrame(out, 5, &protocol.Begin{IncomingWindow: 100, OutgoingWindow: 100, HandleMax: 4294967295})
		require.NoError(t, err)
		c.write(out)
		// Channels are chosen per direction (spec 2.5.1): the broker ends the old session on its channel
		// and begins the new one (remote-channel 5) on a channel that is not still in use by the old one,
		// or, if it reuses that channel, only after the end.
		var endAt, beginAt = -1, -1
		var beginCh uint16
		for i := range 2 {
			ch, p := c.next()
			switch f := p.(type) {
			case *protocol.End:
				assert.Equal(t, oldCh, ch, "end on the old session's channel")
				assert.Nil(t, f.Error)
				endAt = i
			case *protocol.Begin:
				assert.Equal(t, protocol.Some[uint16](5), f.RemoteChannel)
				beginAt, beginCh = i, ch
			default:
				require.Failf(t, "unexpected frame", "%T %+v on channel %d", p, p, ch)
			}
		}
		require.True(t, endAt >= 0 && beginAt >= 0, "want one end and one begin")
		if beginCh == oldCh {
			assert.Less(t, endAt, beginAt, "the broker began a session on channel %d before ending the old one there", oldCh)
		}
	})
	t.Run("open twice", func(t *testing.T) {
		c, _ := rawOpen(t, b, nil)
		c.send(0, &protocol.Open{ContainerID: "again", ChannelMax: 65535})
		c.expectClose(protocol.ErrIllegalState)
	})
	assertBrokerServes(t, b)
}
