package actors

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/warren-mq/warren/protocol"
)

var connSeq atomic.Uint64

// connHandle is what the goroutines of one connection (handshake/reader, writer) and its actors share.
// Everything in it is set before the connection actor is spawned and read-only afterwards, except the
// atomics.
type connHandle struct {
	b      *Broker
	conn   net.Conn
	w      *frameWriter
	id     string // "conn-N": the actor name, and the id in logs
	peer   string
	user   string
	vhost  *actor.PID
	vname  string
	pid    *actor.PID
	remote *protocol.Open // the peer's open
	// negotiated
	peerMaxFrame uint32 // the largest frame we may send
	channelMax   uint16
	closing      atomic.Bool
	// closed is closed by the connection actor once its last frame is flushed and the socket closed.
	closed chan struct{}
	// live publishes pid to goroutines outside the connection (Broker.Shutdown); actors read pid,
	// which is set before any frame reaches them.
	live atomic.Pointer[actor.PID]
}

// handleConn runs the whole life of one accepted socket on its own goroutine: the handshake
// (spec 2.2 protocol header, 5.3 SASL, 2.4.1 open), then the read loop that turns frames into actor
// messages for the connection actor.
func (b *Broker) handleConn(nc net.Conn) {
	raw := nc
	if tc, ok := nc.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	if tc, ok := raw.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	h := &connHandle{b: b, conn: nc, id: fmt.Sprintf("conn-%d", connSeq.Add(1)), peer: peerString(nc.RemoteAddr()),
		closed: make(chan struct{})}
	if !b.register(h) {
		_ = nc.Close()
		return
	}
	defer b.unregister(h)
	defer nc.Close()
	log := b.log.With("conn", h.id, "peer", h.peer)
	lim := b.opts.Limits

	_ = nc.SetDeadline(time.Now().Add(lim.HandshakeTimeout))
	fr := protocol.NewFrameReader(readerFor(nc), lim.MaxFrameSize)
	user, err := b.negotiate(fr, nc)
	if errors.Is(err, errUpgradeTLS) {
		tc := tls.Server(nc, b.tlsConfig())
		if err = tc.Handshake(); err != nil {
			log.Info("TLS upgrade failed", "err", err)
			return
		}
		nc = tc
		h.conn = tc
		defer tc.Close()
		fr = protocol.NewFrameReader(nc, lim.MaxFrameSize)
		user, err = b.negotiate(fr, nc)
	}
	if err != nil {
		log.Info("handshake failed", "err", err)
		return
	}
	h.user = user
	open, err := readOpen(fr)
	if err != nil {
		log.Info("handshake failed: no open", "err", err)
		// The peer sent AMQP but broke it before open: tell it why if we can (spec 2.8.16).
		writeCloseNow(nc, protocol.ConditionFor(err), err.Error())
		return
	}
	h.remote = open
	h.vname, h.vhost, err = b.chooseVhost(open.Hostname)
	if err != nil {
		writeOpenAndClose(nc, b.ourOpen(open), protocol.ErrNotFound, err.Error())
		log.Info("connection refused", "err", err)
		return
	}
	if perr := b.auth.vhostAccess(user, h.vname); perr != nil {
		writeOpenAndClose(nc, b.ourOpen(open), perr.Condition, perr.Description)
		log.Info("connection refused", "err", perr.Description)
		return
	}
	if !b.admitUser(user) {
		writeOpenAndClose(nc, b.ourOpen(open), protocol.ErrResourceLimitExceeded,
			fmt.Sprintf("user %q has reached its connection limit (%d)", user, lim.MaxConnectionsPerUser))
		log.Info("connection refused: per-user limit", "user", user)
		return
	}
	defer b.releaseUser(user)
	_ = nc.SetDeadline(time.Time{})

	// Negotiate (spec 2.7.1): we send frames no larger than the peer's max-frame-size and use channels
	// up to the smaller channel-max.
	h.peerMaxFrame = max(min(open.MaxFrameSize, 1<<31), protocol.MinMaxFrameSize)
	h.channelMax = min(open.ChannelMax, lim.ChannelMax)
	h.w = newFrameWriter(nc)
	h.w.bytesSent = &b.met.BytesOut
	b.goTracked(h.w.run)
	defer h.w.close()
	h.w.frame(0, b.ourOpen(open))
	if open.IdleTimeout > 0 {
		// spec 2.4.5: send something at least every peer idle-time-out; half of it leaves room for latency.
		h.w.setHeartbeat(time.Duration(open.IdleTimeout) * time.Millisecond / 2)
	}

	props := inlineProps(func() actor.Actor { return newConnection(h) })
	pid, err := b.spawnUnderRoot(props, h.id)
	if err != nil {
		log.Error("spawn connection actor", "err", err)
		return
	}
	h.pid = pid
	h.live.Store(pid)
	log.Debug("connection open", "user", user, "vhost", h.vname, "container", open.ContainerID)
	h.readLoop(fr)
	// The actor answers what ended the read side (a close with the error, for a peer fault) and closes
	// the socket; wait for that before the deferred closes run, so the peer gets the error.
	select {
	case <-h.closed:
	case <-time.After(writeTimeout):
	}
}

// negotiate runs the protocol-header exchange and SASL; it returns the authenticated user.
func (b *Broker) negotiate(fr *protocol.FrameReader, nc net.Conn) (string, error) {
	hdr, err := fr.ReadProtoHeader()
	if err != nil {
		// Not AMQP at all (an HTTP request, garbage): answer with the header we want, then close (spec 2.2).
		_, _ = nc.Write(protocol.AppendProtoHeader(nil, protocol.ProtoSASL))
		return "", fmt.Errorf("bad protocol header: %w", err)
	}
	if hdr.Major != 1 || hdr.Minor != 0 || hdr.Revision != 0 {
		_, _ = nc.Write(protocol.AppendProtoHeader(nil, protocol.ProtoSASL))
		return "", fmt.Errorf("unsupported AMQP version %d.%d.%d", hdr.Major, hdr.Minor, hdr.Revision)
	}
	switch hdr.ID {
	case protocol.ProtoAMQP:
		// The client skips SASL: it is anonymous (DESIGN.md §6).
		user, err := b.auth.loginAnonymous(nc.RemoteAddr())
		if err != nil {
			_, _ = nc.Write(protocol.AppendProtoHeader(nil, protocol.ProtoSASL))
			return "", err
		}
		_, err = nc.Write(protocol.AppendProtoHeader(nil, protocol.ProtoAMQP))
		return user, err
	case protocol.ProtoSASL:
		// Before authentication the peer gets a small frame limit, not the negotiated one: a PLAIN
		// response or an EXTERNAL init is a few hundred bytes, so an unauthenticated peer cannot make
		// the broker buffer a 1 MiB frame (spec 2.4.1 allows as little as 512 before open). A bigger
		// frame is a framing error, and the SASL layer, having no close, ends with the socket.
		fr.SetMaxFrameSize(min(saslMaxFrameSize, b.opts.Limits.MaxFrameSize))
		defer fr.SetMaxFrameSize(b.opts.Limits.MaxFrameSize)
		user, err := b.sasl(fr, nc)
		if err != nil {
			return "", err
		}
		hdr, err := fr.ReadProtoHeader()
		if err != nil {
			return "", fmt.Errorf("after SASL: %w", err)
		}
		if hdr.ID != protocol.ProtoAMQP || hdr.Major != 1 || hdr.Minor != 0 || hdr.Revision != 0 {
			_, _ = nc.Write(protocol.AppendProtoHeader(nil, protocol.ProtoAMQP))
			return "", fmt.Errorf("after SASL the client sent protocol id %d, want AMQP", hdr.ID)
		}
		_, err = nc.Write(protocol.AppendProtoHeader(nil, protocol.ProtoAMQP))
		return user, err
	case protocol.ProtoTLS:
		// spec 5.2: the in-band TLS upgrade, when configured; then the negotiation starts again inside TLS.
		// Inside TLS already (the AMQPS port, or a second request after an upgrade) there is nothing to
		// upgrade: refuse with the header we want rather than agree and then hang up.
		cfg := b.tlsConfig()
		if _, inTLS := nc.(*tls.Conn); inTLS || cfg == nil || !b.opts.TLSUpgrade {
			_, _ = nc.Write(protocol.AppendProtoHeader(nil, protocol.ProtoSASL))
			return "", fmt.Errorf("TLS upgrade requested but not offered on this connection")
		}
		if _, err := nc.Write(protocol.AppendProtoHeader(nil, protocol.ProtoTLS)); err != nil {
			return "", err
		}
		return "", errUpgradeTLS
	default:
		_, _ = nc.Write(protocol.AppendProtoHeader(nil, protocol.ProtoSASL))
		return "", fmt.Errorf("unsupported protocol id %d", hdr.ID)
	}
}

// saslMaxFrameSize bounds the frames a peer may send before it has authenticated (the SASL layer).
const saslMaxFrameSize = 64 << 10

// saslMechanisms are the mechanisms offered on nc (spec 5.3.3.1), the preferred first: EXTERNAL when the
// peer presented a verified client certificate, PLAIN, and ANONYMOUS unless it is disabled.
func (b *Broker) saslMechanisms(nc net.Conn) []protocol.Symbol {
	var mechs []protocol.Symbol
	if verifiedClientCN(nc) != "" {
		mechs = append(mechs, "EXTERNAL")
	}
	mechs = append(mechs, "PLAIN")
	if b.auth.allowAnonymous {
		mechs = append(mechs, "ANONYMOUS")
	}
	return mechs
}

// writeSASLMechanisms answers a SASL protocol header: the header, then sasl-mechanisms (spec 5.3.2).
func (b *Broker) writeSASLMechanisms(nc net.Conn) error {
	out := protocol.AppendProtoHeader(nil, protocol.ProtoSASL)
	out, err := protocol.AppendSASLFrame(out, &protocol.SASLMechanisms{Mechanisms: b.saslMechanisms(nc)})
	if err != nil {
		return err
	}
	_, err = nc.Write(out)
	return err
}

// sasl runs the SASL exchange (spec 5.3.2): mechanisms → init [→ challenge/response] → outcome.
func (b *Broker) sasl(fr *protocol.FrameReader, nc net.Conn) (string, error) {
	cn := verifiedClientCN(nc)
	if err := b.writeSASLMechanisms(nc); err != nil {
		return "", err
	}
	body, err := readSASL(fr)
	if err != nil {
		return "", err
	}
	init, ok := body.(*protocol.SASLInit)
	if !ok {
		return "", fmt.Errorf("expected sasl-init, got %T", body)
	}
	peer := nc.RemoteAddr()
	resp := init.InitialResponse
	if init.Mechanism == "PLAIN" && resp == nil {
		// No initial response: ask for it with an empty challenge (RFC 4422 §5).
		out, _ := protocol.AppendSASLFrame(nil, &protocol.SASLChallenge{Challenge: []byte{}})
		if _, err := nc.Write(out); err != nil {
			return "", err
		}
		body, err := readSASL(fr)
		if err != nil {
			return "", err
		}
		r, ok := body.(*protocol.SASLResponse)
		if !ok {
			return "", fmt.Errorf("expected sasl-response, got %T", body)
		}
		resp = r.Response
	}
	// ANONYMOUS checks no credentials, so there is nothing to guess: the limiter leaves it alone.
	guarded := init.Mechanism != "ANONYMOUS"
	if guarded && !b.auth.limiter.admit(peer) {
		// Too many failed logins (or checks under way) from this address: refuse without looking at the
		// credentials, and log it once per window so a brute-force run cannot flood the log.
		out, _ := protocol.AppendSASLFrame(nil, &protocol.SASLOutcome{Code: protocol.SASLSysTemp})
		_, _ = nc.Write(out)
		if b.auth.limiter.logRefusal(peer) {
			b.log.Warn("login refused: too many failed attempts", "peer", peerString(peer), "mechanism", string(init.Mechanism))
		}
		return "", fmt.Errorf("too many failed logins from %s", hostOf(peer))
	}
	var user string
	switch init.Mechanism {
	case "EXTERNAL":
		if cn == "" {
			err = fmt.Errorf("EXTERNAL is offered only with a verified client certificate")
		} else {
			user, err = b.auth.loginExternal(cn, peer)
		}
	case "PLAIN":
		user, err = b.auth.loginPlain(resp, peer)
	case "ANONYMOUS":
		user, err = b.auth.loginAnonymous(peer)
	default:
		err = fmt.Errorf("mechanism %q is not offered", init.Mechanism)
	}
	code := protocol.SASLOk
	if err != nil {
		code = protocol.SASLAuth
	}
	if guarded {
		// Counted before the client hears the outcome, so an immediate retry already sees it.
		b.auth.limiter.done(peer, err != nil)
	}
	out, _ := protocol.AppendSASLFrame(nil, &protocol.SASLOutcome{Code: code})
	if _, werr := nc.Write(out); werr != nil && err == nil {
		err = werr
	}
	if err != nil {
		b.log.Warn("login failed", "peer", peerString(peer), "mechanism", string(init.Mechanism), "err", err)
		return "", err
	}
	return user, nil
}

func readSASL(fr *protocol.FrameReader) (protocol.SASLFrameBody, error) {
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return nil, err
		}
		if len(f.Body) == 0 {
			continue // an empty frame is a heartbeat, allowed anywhere (spec 2.3.2)
		}
		if f.Type != protocol.FrameTypeSASL {
			return nil, &protocol.FramingError{Msg: "expected a SASL frame"}
		}
		return protocol.DecodeSASLFrameBody(f.Body)
	}
}

func readOpen(fr *protocol.FrameReader) (*protocol.Open, error) {
	for {
		f, err := fr.ReadFrame()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			// The handshake deadline passed: a limit, like the idle-time-out, not a broker fault.
			return nil, &protocol.Error{Condition: protocol.ErrResourceLimitExceeded,
				Description: "no open frame within the handshake timeout"}
		}
		if err != nil {
			return nil, err
		}
		if len(f.Body) == 0 {
			continue
		}
		if f.Type != protocol.FrameTypeAMQP {
			return nil, &protocol.FramingError{Msg: "expected an AMQP frame carrying open"}
		}
		p, _, err := protocol.DecodeFrameBody(f.Body)
		if err != nil {
			return nil, err
		}
		open, ok := p.(*protocol.Open)
		if !ok {
			return nil, &protocol.Error{Condition: protocol.ErrIllegalState, Description: fmt.Sprintf("expected open, got %s", describe(p))}
		}
		return open, nil
	}
}

// ourOpen is the open we answer with (spec 2.7.1).
func (b *Broker) ourOpen(peer *protocol.Open) *protocol.Open {
	lim := b.opts.Limits
	o := &protocol.Open{
		ContainerID:         containerID(),
		MaxFrameSize:        lim.MaxFrameSize,
		ChannelMax:          lim.ChannelMax,
		OfferedCapabilities: []protocol.Symbol{"ANONYMOUS-RELAY"},
		Properties: protocol.Map{
			{Key: protocol.Symbol("product"), Value: "Warren"},
			{Key: protocol.Symbol("version"), Value: Version},
		},
	}
	if lim.IdleTimeout > 0 {
		o.IdleTimeout = uint32(lim.IdleTimeout / time.Millisecond)
	}
	_ = peer
	return o
}

func containerID() string {
	host, err := os.Hostname()
	if err != nil {
		host = "localhost"
	}
	return "warren@" + host
}

// chooseVhost maps open.hostname to a vhost: "vhost:NAME" selects NAME (RabbitMQ 4); a plain name that is
// a vhost selects it; anything else (a DNS name, an address, empty) is the default vhost "/".
func (b *Broker) chooseVhost(hostname string) (string, *actor.PID, error) {
	if name, ok := strings.CutPrefix(hostname, "vhost:"); ok {
		if pid := b.vhosts[name]; pid != nil {
			return name, pid, nil
		}
		return "", nil, fmt.Errorf("virtual host %q does not exist", name)
	}
	if pid := b.vhosts[hostname]; pid != nil {
		return hostname, pid, nil
	}
	return "/", b.vhosts["/"], nil
}

// readLoop decodes frames and hands them to the connection actor, one batch per socket read, so a burst
// of transfers costs one mailbox hop (DESIGN.md §1).
func (h *connHandle) readLoop(fr *protocol.FrameReader) {
	idle := h.b.opts.Limits.IdleTimeout
	var batch []inFrame
	var arena protocol.FrameArena // a burst's transfers and dispositions in a few allocations
	lastBurst := 0                // the frames in the last batch (appendSized)
	// The read deadline is moved at most every idle/4 (moving it costs a clock read and a timer
	// update, per read burst otherwise), and set idle+idle/4 ahead, so a connection is never closed
	// before idle has passed without a frame; it may be up to idle/4 later (spec 2.4.5 asks no more).
	var armed time.Time
	for {
		if idle > 0 {
			if now := time.Now(); now.Sub(armed) >= idle/4 {
				armed = now
				_ = h.conn.SetReadDeadline(now.Add(idle + idle/4))
			}
		}
		f, err := fr.ReadFrame()
		var bytesIn int64
		for err == nil {
			bytesIn += int64(8 + len(f.Body))
			if len(f.Body) > 0 {
				var in inFrame
				if in, err = decodeInFrame(&arena, f); err != nil {
					break
				}
				batch = appendSized(batch, in, lastBurst)
			}
			if len(batch) >= 256 || !fr.FrameBuffered() {
				break
			}
			f, err = fr.ReadFrame()
		}
		h.b.met.BytesIn.Add(bytesIn)
		if len(batch) > 0 {
			lastBurst = len(batch)
			h.b.system.Root.Send(h.pid, &inFrames{frames: batch})
			batch = nil
		}
		if err != nil {
			h.b.system.Root.Send(h.pid, readFailure(err, idle))
			return
		}
	}
}

func decodeInFrame(arena *protocol.FrameArena, f protocol.Frame) (inFrame, error) {
	if f.Type != protocol.FrameTypeAMQP {
		return inFrame{}, &protocol.FramingError{Msg: fmt.Sprintf("frame type %d after open; only AMQP frames are allowed", f.Type)}
	}
	p, payload, err := arena.DecodeFrameBody(f.Body)
	if err != nil {
		return inFrame{}, err
	}
	in := inFrame{channel: f.Channel, perf: p}
	if t, ok := p.(*protocol.Transfer); ok {
		// Frame bodies alias the reader's buffer: a transfer keeps its own copy of tag and payload,
		// both in one allocation.
		own := make([]byte, len(t.DeliveryTag)+len(payload))
		n := copy(own, t.DeliveryTag)
		copy(own[n:], payload)
		if t.DeliveryTag != nil {
			t.DeliveryTag = own[:n:n]
		}
		if payload != nil {
			in.payload = own[n:]
		}
	}
	return in, nil
}

func readFailure(err error, idle time.Duration) *connFailed {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return &connFailed{err: &protocol.Error{Condition: protocol.ErrResourceLimitExceeded,
			Description: fmt.Sprintf("no frame received for %s (idle-time-out)", idle)}}
	case errors.Is(err, net.ErrClosed), errors.Is(err, os.ErrDeadlineExceeded):
		return &connFailed{lost: true}
	}
	var de *protocol.DecodeError
	var fe *protocol.FramingError
	var pe *protocol.Error
	switch {
	case errors.As(err, &de), errors.As(err, &fe):
		return &connFailed{err: &protocol.Error{Condition: protocol.ConditionFor(err), Description: err.Error()}}
	case errors.As(err, &pe):
		return &connFailed{err: pe}
	}
	return &connFailed{lost: true}
}

// writeCloseNow answers a broken handshake: an open (required before close, spec 2.4.1) then close.
func writeCloseNow(nc net.Conn, cond protocol.Symbol, desc string) {
	writeOpenAndClose(nc, &protocol.Open{ContainerID: containerID()}, cond, desc)
}

func writeOpenAndClose(nc net.Conn, open *protocol.Open, cond protocol.Symbol, desc string) {
	out, err := protocol.AppendFrame(nil, 0, open)
	if err != nil {
		return
	}
	out, err = protocol.AppendFrame(out, 0, &protocol.Close{Error: &protocol.Error{Condition: cond, Description: desc}})
	if err != nil {
		return
	}
	_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = nc.Write(out)
}

// refuseConnection is used past the connection limit. It answers in the layer the client opened with,
// so that the client sees a refusal rather than a protocol mismatch: to a SASL header the mechanisms,
// then, whatever the init says, sasl-outcome sys-temp (spec 5.3.3.6: a transient failure, try again
// later; the SASL layer carries no error text); to any other header the AMQP header, then open and
// close with amqp:resource-limit-exceeded and why.
func (b *Broker) refuseConnection(nc net.Conn, why string) {
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(2 * time.Second))
	var raw [8]byte
	if _, err := readFull(nc, raw[:]); err != nil {
		return
	}
	if hdr, err := protocol.ParseProtoHeader(raw); err == nil && hdr.ID == protocol.ProtoSASL {
		if b.writeSASLMechanisms(nc) != nil {
			return
		}
		// Read the init before answering: a client writes it before it reads the outcome, and it is
		// not checked, so its frame stays small.
		if _, err := readSASL(protocol.NewFrameReader(nc, min(saslMaxFrameSize, b.opts.Limits.MaxFrameSize))); err != nil {
			return
		}
		out, _ := protocol.AppendSASLFrame(nil, &protocol.SASLOutcome{Code: protocol.SASLSysTemp})
		_, _ = nc.Write(out)
		return
	}
	_, _ = nc.Write(protocol.AppendProtoHeader(nil, protocol.ProtoAMQP))
	writeCloseNow(nc, protocol.ErrResourceLimitExceeded, why)
}

func readFull(nc net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := nc.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func peerString(a net.Addr) string {
	if a == nil {
		return "pipe"
	}
	return a.String()
}

func describe(p any) string {
	return strings.TrimPrefix(fmt.Sprintf("%T", p), "*protocol.")
}
