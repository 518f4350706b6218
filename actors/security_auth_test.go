package actors

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"hash"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/actors/definitions"
	"github.com/warren-mq/warren/protocol"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// fromAddr is a connection that reports another peer address: the broker sees it coming from there.
type fromAddr struct {
	net.Conn
	remote net.Addr
}

func (c fromAddr) RemoteAddr() net.Addr { return c.remote }

// pipeFrom runs one broker connection over net.Pipe as if the peer were at addr ("host:port") and
// returns the client's end; the connection's goroutine must be gone when the test ends.
func pipeFrom(t *testing.T, b *Broker, addr string) net.Conn {
	t.Helper()
	remote, err := net.ResolveTCPAddr("tcp", addr)
	require.NoError(t, err)
	client, server := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.handleConn(fromAddr{Conn: server, remote: remote})
	}()
	t.Cleanup(func() {
		_ = client.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the broker's connection goroutine did not end")
		}
	})
	return client
}

func rawFrom(t *testing.T, b *Broker, addr string) *rawClient {
	nc := pipeFrom(t, b, addr)
	return &rawClient{t: t, nc: nc, fr: protocol.NewFrameReader(nc, 16<<20)}
}

// saslExchange runs the SASL layer up to the outcome with one init frame (spec 5.3.2).
func (c *rawClient) saslExchange(init *protocol.SASLInit) *protocol.SASLOutcome {
	c.t.Helper()
	c.write(protocol.AppendProtoHeader(nil, protocol.ProtoSASL))
	require.Equal(c.t, protocol.ProtoSASL, c.readHeader().ID)
	_, ok := c.nextSASL().(*protocol.SASLMechanisms)
	require.True(c.t, ok, "want sasl-mechanisms")
	c.sendSASL(init)
	out, ok := c.nextSASL().(*protocol.SASLOutcome)
	require.True(c.t, ok, "want sasl-outcome")
	return out
}

func plainInit(user, pass string) *protocol.SASLInit {
	return &protocol.SASLInit{Mechanism: "PLAIN", InitialResponse: []byte("\x00" + user + "\x00" + pass)}
}

func allOn(vhost string, users ...string) []definitions.Permission {
	var ps []definitions.Permission
	for _, u := range users {
		ps = append(ps, definitions.Permission{User: u, Vhost: vhost, Configure: ".*", Write: ".*", Read: ".*"})
	}
	return ps
}

// DESIGN.md §6: guest/guest, ANONYMOUS and a client that skips SASL work from loopback only, unless
// the config says otherwise; other users may connect from anywhere.
func TestLoginGuestLoopbackRule(t *testing.T) {
	users := func(o *Options) {
		o.Definitions = &definitions.Definitions{Users: []definitions.User{{Name: "alice", Password: "pw"}},
			Permissions: allOn("/", "alice")}
	}
	b := startBroker(t, users)
	const remote = "192.0.2.7:40001"

	assert.Equal(t, protocol.SASLAuth, rawFrom(t, b, remote).saslExchange(plainInit("guest", "guest")).Code,
		"guest from a remote address")
	assert.Equal(t, protocol.SASLAuth, rawFrom(t, b, remote).saslExchange(&protocol.SASLInit{Mechanism: "ANONYMOUS"}).Code,
		"ANONYMOUS (guest) from a remote address")
	c := rawFrom(t, b, remote)
	c.write(protocol.AppendProtoHeader(nil, protocol.ProtoAMQP))
	got := c.readAll()
	require.Len(t, got, 8, "a client that skips SASL from a remote address gets the SASL header, then the close: %q", got)
	h, err := protocol.ParseProtoHeader([8]byte(got))
	require.NoError(t, err)
	assert.Equal(t, protocol.ProtoSASL, h.ID)

	assert.Equal(t, protocol.SASLOk, rawFrom(t, b, remote).saslExchange(plainInit("alice", "pw")).Code,
		"another user from a remote address")
	assert.Equal(t, protocol.SASLOk, rawFrom(t, b, "[::1]:40002").saslExchange(plainInit("guest", "guest")).Code,
		"guest from IPv6 loopback")

	// go-amqp over the same kind of connection sees the refusal as a login error.
	_, err = amqp.NewConn(testCtx(t), pipeFrom(t, b, remote), &amqp.ConnOptions{SASLType: amqp.SASLTypePlain("guest", "guest")})
	require.Error(t, err)

	open := startBroker(t, users, func(o *Options) { o.Auth.GuestAnywhere = true })
	assert.Equal(t, protocol.SASLOk, rawFrom(t, open, remote).saslExchange(plainInit("guest", "guest")).Code)
	conn, err := amqp.NewConn(testCtx(t), pipeFrom(t, open, remote), nil)
	require.NoError(t, err, "with guest-anywhere, a client that skips SASL is guest from anywhere")
	send(t, sender(t, newSess(t, conn), "from-afar", nil), "hello")
	_ = conn.Close() // over net.Pipe, go-amqp's last write may meet the already closed pipe
}

// Hashes in the definitions: bcrypt and argon2id (PHC string) as well as RabbitMQ's salted hashes (the
// SHA-256 default has its own test in TestSASLPlainAndDefinitionsUsers).
func TestLoginPasswordHashes(t *testing.T) {
	bh, err := bcrypt.GenerateFromPassword([]byte("b-secret"), bcrypt.MinCost)
	require.NoError(t, err)
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	b64 := base64.RawStdEncoding.EncodeToString
	key := argon2.IDKey([]byte("a-secret"), salt, 1, 1024, 1, 32)
	phc := func(variant, params string) string {
		return fmt.Sprintf("$%s$v=%d$%s$%s$%s", variant, argon2.Version, params, b64(salt), b64(key))
	}
	rabbit := func(h hash.Hash, pass string) string { // base64(salt[4] ++ H(salt ++ password))
		s := []byte{0x90, 0x8d, 0xc6, 0x0a}
		h.Write(s)
		h.Write([]byte(pass))
		return base64.StdEncoding.EncodeToString(h.Sum(s))
	}
	b := startBroker(t, func(o *Options) {
		o.Definitions = &definitions.Definitions{Users: []definitions.User{
			{Name: "bea", PasswordHash: string(bh)},
			{Name: "ari", PasswordHash: phc("argon2id", "m=1024,t=1,p=1")},
			{Name: "sha", PasswordHash: rabbit(sha512.New(), "s-secret"), HashingAlgorithm: "rabbit_password_hashing_sha512"},
			{Name: "old", PasswordHash: rabbit(md5.New(), "m-secret"), HashingAlgorithm: "rabbit_password_hashing_md5"},
		}, Permissions: allOn("/", "bea", "ari", "sha", "old")}
	})
	login := func(user, pass string) error {
		c, err := amqp.Dial(testCtx(t), "amqp://"+b.Addr().String(), &amqp.ConnOptions{SASLType: amqp.SASLTypePlain(user, pass)})
		if err == nil {
			_ = c.Close()
		}
		return err
	}
	require.NoError(t, login("bea", "b-secret"), "bcrypt")
	require.NoError(t, login("ari", "a-secret"), "argon2id")
	require.NoError(t, login("sha", "s-secret"), "RabbitMQ SHA-512")
	require.NoError(t, login("old", "m-secret"), "RabbitMQ MD5 (exports from before 3.6)")
	require.Error(t, login("bea", "a-secret"))
	require.Error(t, login("ari", "b-secret"))

	for name, hash := range map[string]string{
		"argon2i":                     phc("argon2i", "m=1024,t=1,p=1"),
		"argon2id asking for 4 GiB":   phc("argon2id", "m=4194304,t=1,p=1"),
		"argon2id without iterations": phc("argon2id", "m=1024,t=0,p=1"),
		"argon2id, 300 threads":       phc("argon2id", "m=4096,t=1,p=300"),
		"argon2id, other version":     strings.Replace(phc("argon2id", "m=1024,t=1,p=1"), "v=19", "v=16", 1),
		"argon2id, bad salt":          "$argon2id$v=19$m=1024,t=1,p=1$!!$" + b64(salt),
		"bcrypt, truncated":           string(bh[:20]),
	} {
		_, err := NewBroker(Options{AMQPAddr: "-", Logger: testLogger(), Definitions: &definitions.Definitions{
			Users: []definitions.User{{Name: "u", PasswordHash: hash}}}})
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), `users[0] "u"`, name)
	}
}

// A brute force that opens many connections at once gets no more credential checks than one that
// tries them in turn: attempts in flight count against the address's limit.
func TestFailedLoginsLimitParallelAttempts(t *testing.T) {
	b := startBroker(t)
	b.auth.limiter.window = 5 * time.Minute
	const n = 20
	cs := make([]*rawClient, n)
	for i := range cs {
		cs[i] = rawDial(t, b)
		cs[i].write(protocol.AppendProtoHeader(nil, protocol.ProtoSASL))
		cs[i].readHeader()
		_ = cs[i].nextSASL()
	}
	for _, c := range cs { // all the inits at once: each bcrypt check takes far longer than this loop
		out, err := protocol.AppendSASLFrame(nil, plainInit("guest", "wrong"))
		require.NoError(t, err)
		c.write(out)
	}
	codes := map[protocol.SASLCode]int{}
	for _, c := range cs {
		out, ok := c.nextSASL().(*protocol.SASLOutcome)
		require.True(t, ok)
		codes[out.Code]++
	}
	assert.Equal(t, b.opts.Auth.FailedLoginLimit, codes[protocol.SASLAuth], "credential checks: %v", codes)
	assert.Equal(t, n-b.opts.Auth.FailedLoginLimit, codes[protocol.SASLSysTemp], "refused unchecked: %v", codes)
	assert.True(t, limiterRefuses(&b.auth.limiter, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}))
}

// logCapture keeps every record a broker logs, with its attributes, for assertions.
type logCapture struct {
	mu      sync.Mutex
	records []capturedLog
	attrs   []slog.Attr
	root    *logCapture
}

type capturedLog struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func newLogCapture() *logCapture { c := &logCapture{}; c.root = c; return c }

func (c *logCapture) Enabled(context.Context, slog.Level) bool { return true }

func (c *logCapture) Handle(_ context.Context, r slog.Record) error {
	rec := capturedLog{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	for _, a := range c.attrs {
		rec.attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool { rec.attrs[a.Key] = a.Value.String(); return true })
	c.root.mu.Lock()
	defer c.root.mu.Unlock()
	c.root.records = append(c.root.records, rec)
	return nil
}

func (c *logCapture) WithAttrs(as []slog.Attr) slog.Handler {
	return &logCapture{attrs: append(append([]slog.Attr{}, c.attrs...), as...), root: c.root}
}

func (c *logCapture) WithGroup(string) slog.Handler { return c }

func (c *logCapture) find(msg string) []capturedLog {
	c.root.mu.Lock()
	defer c.root.mu.Unlock()
	var out []capturedLog
	for _, r := range c.root.records {
		if r.msg == msg {
			out = append(out, r)
		}
	}
	return out
}

func (c *logCapture) contains(s string) bool {
	c.root.mu.Lock()
	defer c.root.mu.Unlock()
	for _, r := range c.root.records {
		if strings.Contains(r.msg, s) {
			return true
		}
		for _, v := range r.attrs {
			if strings.Contains(v, s) {
				return true
			}
		}
	}
	return false
}

// Every failed login is logged (peer, mechanism, user; never the password); past the limit an address
// is refused unchecked and that is logged once per window, while other addresses log in as usual.
func TestFailedLoginsLoggedAndLimitedPerAddress(t *testing.T) {
	logs := newLogCapture()
	b := startBroker(t, func(o *Options) {
		o.Logger = slog.New(logs)
		o.Definitions = &definitions.Definitions{Users: []definitions.User{{Name: "alice", Password: "pw"}},
			Permissions: allOn("/", "alice")}
	})
	b.auth.limiter.window = 5 * time.Minute
	limit := b.opts.Auth.FailedLoginLimit
	for i := range limit {
		c, out := rawSASL(t, b, plainInit("alice", fmt.Sprintf("guess-%d", i)))
		assert.Equal(t, protocol.SASLAuth, out.Code)
		c.expectEOF()
	}
	failed := logs.find("login failed")
	require.Len(t, failed, limit)
	for _, r := range failed {
		assert.Equal(t, slog.LevelWarn, r.level)
		assert.True(t, strings.HasPrefix(r.attrs["peer"], "127.0.0.1:"), "peer %q", r.attrs["peer"])
		assert.Equal(t, "PLAIN", r.attrs["mechanism"])
		assert.Contains(t, r.attrs["err"], `"alice"`)
	}
	assert.False(t, logs.contains("guess-"), "a password reached the log")

	for range 10 { // the right password now, but this address is blocked: refused unchecked
		c, out := rawSASL(t, b, plainInit("alice", "pw"))
		assert.Equal(t, protocol.SASLSysTemp, out.Code)
		c.expectEOF()
	}
	assert.Len(t, logs.find("login refused: too many failed attempts"), 1, "one line per address and window")
	assert.Len(t, logs.find("login failed"), limit, "unchecked refusals are not failed logins")

	// Another address is not affected.
	assert.Equal(t, protocol.SASLOk, rawFrom(t, b, "192.0.2.9:5000").saslExchange(plainInit("alice", "pw")).Code)
	assert.True(t, limiterRefuses(&b.auth.limiter, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}))
	assert.False(t, limiterRefuses(&b.auth.limiter, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 9)}))
}
