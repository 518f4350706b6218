package actors

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/protocol"
)

// limiterRefuses reports whether the failed-login limiter would refuse a login from peer now, without
// leaving a trace: an admitted probe is ended at once as a success.
func limiterRefuses(l *loginLimiter, peer net.Addr) bool {
	if !l.admit(peer) {
		return true
	}
	l.done(peer, false)
	return false
}

// Past the total connection limit a client that opens with the SASL header is refused in SASL's own
// terms: the mechanisms, then sasl-outcome sys-temp for its init (spec 5.3.3.6), then the socket
// closes. go-amqp with credentials sees a login refusal, not a protocol mismatch.
func TestLimitConnectionsRefusesSASLClients(t *testing.T) {
	b := startBroker(t, func(o *Options) { o.Limits.MaxConnections = 1 })
	first := dial(t, b, nil)
	require.Eventually(t, func() bool { return b.connCount.Load() == 1 }, 5*time.Second, 5*time.Millisecond)

	c := rawDial(t, b)
	c.write(protocol.AppendProtoHeader(nil, protocol.ProtoSASL))
	require.Equal(t, protocol.ProtoHeader{ID: protocol.ProtoSASL, Major: 1}, c.readHeader())
	mechs, ok := c.nextSASL().(*protocol.SASLMechanisms)
	require.True(t, ok, "want sasl-mechanisms")
	assert.Equal(t, []protocol.Symbol{"PLAIN", "ANONYMOUS"}, mechs.Mechanisms, "the mechanisms the broker offers")
	c.sendSASL(plainInit("guest", "guest"))
	out, ok := c.nextSASL().(*protocol.SASLOutcome)
	require.True(t, ok, "want sasl-outcome")
	assert.Equal(t, protocol.SASLSysTemp, out.Code)
	c.expectEOF()

	for name, sasl := range map[string]amqp.SASLType{
		"PLAIN": amqp.SASLTypePlain("guest", "guest"), "ANONYMOUS": amqp.SASLTypeAnonymous()} {
		_, err := amqp.Dial(testCtx(t), "amqp://"+b.Addr().String(), &amqp.ConnOptions{SASLType: sasl})
		require.Error(t, err, name)
		assert.NotContains(t, err.Error(), "unexpected protocol header", name)
		assert.Contains(t, err.Error(), "code 0x4", "%s: sys-temp, a transient refusal", name)
	}
	// A client that skips SASL still gets open and close with the reason.
	c = rawDial(t, b)
	c.write(protocol.AppendProtoHeader(nil, protocol.ProtoAMQP))
	require.Equal(t, protocol.ProtoAMQP, c.readHeader().ID)
	expectFrame[*protocol.Open](c)
	assert.Contains(t, c.expectClose(protocol.ErrResourceLimitExceeded).Description, "connection limit")

	require.NoError(t, first.Close())
	require.Eventually(t, func() bool { return b.connCount.Load() == 0 }, 5*time.Second, 5*time.Millisecond)
	sc, err := amqp.Dial(testCtx(t), "amqp://"+b.Addr().String(), &amqp.ConnOptions{SASLType: amqp.SASLTypePlain("guest", "guest")})
	require.NoError(t, err, "a freed place admits a SASL client")
	require.NoError(t, sc.Close())
	require.Eventually(t, func() bool { return b.slots.Load() == 0 }, 5*time.Second, 5*time.Millisecond)
	assertBrokerServes(t, b)
}

// A burst of connections arriving at once admits exactly the limit: the place is reserved when the
// socket is accepted, not when its goroutine gets round to counting it.
func TestLimitConnectionsBurst(t *testing.T) {
	const limit, n = 3, 60
	b := startBroker(t, func(o *Options) { o.Limits.MaxConnections = limit })
	var (
		wg               sync.WaitGroup
		mu               sync.Mutex
		admitted, refuse int
		errs             []error
	)
	start := make(chan struct{})
	conns := make(chan net.Conn, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			nc, ok, err := burstClient(b.Addr().String())
			if nc != nil {
				conns <- nc
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs = append(errs, err)
			case ok:
				admitted++
			default:
				refuse++
			}
		}()
	}
	close(start)
	wg.Wait()
	close(conns)
	require.Empty(t, errs)
	assert.Equal(t, limit, admitted, "connections admitted out of a burst of %d", n)
	assert.Equal(t, n-limit, refuse)
	assert.LessOrEqual(t, b.connCount.Load(), int64(limit))
	for nc := range conns {
		_ = nc.Close()
	}
	require.Eventually(t, func() bool { return b.connCount.Load() == 0 && b.slots.Load() == 0 }, 5*time.Second, 5*time.Millisecond)
	assertBrokerServes(t, b)
}

// burstClient opens a connection without SASL and tells whether the broker admitted it (its begin is
// answered) or refused it (close with amqp:resource-limit-exceeded). It runs off the test goroutine,
// so it returns errors instead of failing the test.
func burstClient(addr string) (net.Conn, bool, error) {
	nc, err := net.DialTimeout("tcp", addr, rawIO)
	if err != nil {
		return nil, false, err
	}
	_ = nc.SetDeadline(time.Now().Add(3 * rawIO))
	fr := protocol.NewFrameReader(nc, 1<<20)
	if _, err := nc.Write(protocol.AppendProtoHeader(nil, protocol.ProtoAMQP)); err != nil {
		return nc, false, err
	}
	if h, err := fr.ReadProtoHeader(); err != nil || h.ID != protocol.ProtoAMQP {
		return nc, false, fmt.Errorf("protocol header %+v: %v", h, err)
	}
	out, _ := protocol.AppendFrame(nil, 0, &protocol.Open{ContainerID: "burst", ChannelMax: 1})
	out, _ = protocol.AppendFrame(out, 0, &protocol.Begin{IncomingWindow: 10, OutgoingWindow: 10, HandleMax: 1})
	_, _ = nc.Write(out) // a refused connection may already be closed: its answer is read below
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return nc, false, fmt.Errorf("before begin or close: %w", err)
		}
		if len(f.Body) == 0 {
			continue
		}
		p, _, err := protocol.DecodeFrameBody(f.Body)
		if err != nil {
			return nc, false, err
		}
		switch p := p.(type) {
		case *protocol.Begin:
			return nc, true, nil
		case *protocol.Close:
			if p.Error == nil || p.Error.Condition != protocol.ErrResourceLimitExceeded {
				return nc, false, fmt.Errorf("close %v, want %s", p.Error, protocol.ErrResourceLimitExceeded)
			}
			return nc, false, nil
		}
	}
}

// Before the peer has authenticated its frames are capped far below max-frame-size: a SASL frame over
// 64 KiB is a framing error that ends the connection unread (the SASL layer has no close). Up to the
// cap a frame is read and answered; after authentication max-frame-size applies again.
func TestSASLFrameLimitBeforeAuthentication(t *testing.T) {
	b := startBroker(t, func(o *Options) { o.Auth.FailedLoginLimit = -1 })
	require.Equal(t, uint32(1<<20), b.opts.Limits.MaxFrameSize)
	// initOfSize is a PLAIN init whose whole frame is size bytes.
	initOfSize := func(size int) []byte {
		frame := func(n int) []byte {
			out, err := protocol.AppendSASLFrame(nil, &protocol.SASLInit{Mechanism: "PLAIN",
				InitialResponse: append([]byte("\x00guest\x00"), bytes.Repeat([]byte{'x'}, n)...)})
			require.NoError(t, err)
			return out
		}
		over := len(frame(1024)) - 1024
		out := frame(size - over)
		require.Len(t, out, size)
		return out
	}
	saslThen := func(frame []byte) *rawClient {
		c := rawDial(t, b)
		c.write(protocol.AppendProtoHeader(nil, protocol.ProtoSASL))
		require.Equal(t, protocol.ProtoSASL, c.readHeader().ID)
		_, ok := c.nextSASL().(*protocol.SASLMechanisms)
		require.True(t, ok)
		// Not c.write: the broker may hang up on a frame it refuses before the client has written it all.
		require.NoError(t, c.nc.SetWriteDeadline(time.Now().Add(rawIO)))
		_, _ = c.nc.Write(frame)
		return c
	}

	c := saslThen(initOfSize(saslMaxFrameSize))
	out, ok := c.nextSASL().(*protocol.SASLOutcome)
	require.True(t, ok, "a frame of exactly the cap is read")
	assert.Equal(t, protocol.SASLAuth, out.Code, "and checked: a wrong password")
	c.expectEOF()

	for name, frame := range map[string][]byte{
		"one byte over the cap": initOfSize(saslMaxFrameSize + 1),
		"256 KiB":               initOfSize(256 << 10),
		"header claiming 1 MiB": frameHeader(1<<20, 2, protocol.FrameTypeSASL, 0),
	} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			c := saslThen(frame)
			assert.Empty(t, c.readAll(), "no outcome: the frame is refused from its header")
			assert.Less(t, time.Since(start), b.opts.Limits.HandshakeTimeout/2, "closed at once, not at the handshake timeout")
		})
	}

	// Authenticated, the client may use the whole max-frame-size: go-amqp sends a 512 KiB message in
	// one transfer frame.
	conn, err := amqp.Dial(testCtx(t), "amqp://"+b.Addr().String(), &amqp.ConnOptions{SASLType: amqp.SASLTypePlain("guest", "guest")})
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	s := newSess(t, conn)
	big := bytes.Repeat([]byte("w"), 512<<10)
	snd := sender(t, s, "sasl-big", nil)
	require.NoError(t, snd.Send(testCtx(t), amqp.NewMessage(big), nil))
	m := recv(t, receiver(t, s, "sasl-big", nil))
	assert.Equal(t, big, m.GetData())
	assertBrokerServes(t, b)
}

// HTTP basic auth uses the limiter as the SASL login does: a check is reserved before it runs, so a
// burst of parallel wrong passwords gets exactly the limit's worth of password checks (401) and the
// rest are refused unchecked (429).
func TestHTTPAPILoginLimiterHoldsAgainstParallelRequests(t *testing.T) {
	logs := newLogCapture()
	b := startBroker(t, func(o *Options) {
		o.HTTPAddr = "127.0.0.1:0"
		o.Logger = slog.New(logs)
	})
	b.auth.limiter.window = 5 * time.Minute
	limit := b.opts.Auth.FailedLoginLimit
	require.Positive(t, limit)
	const n = 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	var errs []error
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, err := http.NewRequest("GET", "http://"+b.HTTPAddr().String()+"/api/overview", nil)
			if err == nil {
				req.SetBasicAuth("guest", "wrong")
				<-start
				var resp *http.Response
				if resp, err = apiHTTP.Do(req); err == nil {
					_ = resp.Body.Close()
					mu.Lock()
					codes[resp.StatusCode]++
					mu.Unlock()
				}
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	require.Empty(t, errs)
	assert.Equal(t, limit, codes[http.StatusUnauthorized], "password checks: %v", codes)
	assert.Equal(t, n-limit, codes[http.StatusTooManyRequests], "refused unchecked: %v", codes)
	assert.True(t, limiterRefuses(&b.auth.limiter, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}))
	assert.Len(t, logs.find("HTTP API login failed"), limit, "every checked failure is logged")
	assert.Len(t, logs.find("HTTP API login refused: too many failed attempts"), 1, "refusals once per window")

	// The right password from this address is refused too, until the window passes.
	c := &apiTestClient{t: t, base: "http://" + b.HTTPAddr().String(), user: "guest", pass: "guest"}
	c.expectError("GET", "/api/overview", nil, http.StatusTooManyRequests, "too_many_requests")
}
