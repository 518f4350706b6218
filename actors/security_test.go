package actors

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/actors/definitions"
	"github.com/warren-mq/warren/protocol"
)

// testPKI is a throw-away CA with a server certificate for 127.0.0.1 and client certificates.
type testPKI struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caFile string
	pool   *x509.CertPool
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "warren test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	p := &testPKI{dir: t.TempDir(), ca: ca, caKey: key, pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.caFile = filepath.Join(p.dir, "ca.pem")
	require.NoError(t, os.WriteFile(p.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	return p
}

// issue writes a certificate signed by the CA and returns its cert and key file names.
func (p *testPKI) issue(t *testing.T, name string, serial int64, server bool) (string, string, tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	if server {
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	cf, kf := filepath.Join(p.dir, name+".pem"), filepath.Join(p.dir, name+".key")
	require.NoError(t, os.WriteFile(cf, certPEM, 0o600))
	require.NoError(t, os.WriteFile(kf, keyPEM, 0o600))
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	require.NoError(t, err)
	return cf, kf, pair
}

func tlsBroker(t *testing.T, p *testPKI, mutate ...func(*Options)) *Broker {
	cf, kf, _ := p.issue(t, "server", 10, true)
	return startBroker(t, append([]func(*Options){func(o *Options) {
		o.AMQPSAddr, o.TLSCert, o.TLSKey, o.TLSCA = "127.0.0.1:0", cf, kf, p.caFile
	}}, mutate...)...)
}

func TestTLSListenerAndExternal(t *testing.T) {
	p := newTestPKI(t)
	b := tlsBroker(t, p, func(o *Options) {
		o.Definitions = &definitions.Definitions{
			Users:       []definitions.User{{Name: "alice"}}, // no password: EXTERNAL only
			Permissions: []definitions.Permission{{User: "alice", Vhost: "/", Configure: ".*", Write: ".*", Read: ".*"}},
		}
	})
	url := "amqps://" + b.TLSAddr().String()

	// TLS with PLAIN.
	c, err := amqp.Dial(testCtx(t), url, &amqp.ConnOptions{TLSConfig: &tls.Config{RootCAs: p.pool, MinVersion: tls.VersionTLS12},
		SASLType: amqp.SASLTypePlain("guest", "guest")})
	require.NoError(t, err)
	s := newSess(t, c)
	send(t, sender(t, s, "secure", nil), "over TLS")
	assertQueue(t, s, "secure", "over TLS")
	require.NoError(t, c.Close())

	// TLS with a client certificate and SASL EXTERNAL: the user is the certificate's CN.
	_, _, alice := p.issue(t, "alice", 11, false)
	c, err = amqp.Dial(testCtx(t), url, &amqp.ConnOptions{TLSConfig: &tls.Config{RootCAs: p.pool, Certificates: []tls.Certificate{alice},
		MinVersion: tls.VersionTLS12}, SASLType: amqp.SASLTypeExternal("")})
	require.NoError(t, err)
	send(t, sender(t, newSess(t, c), "secure", nil), "as alice")
	require.NoError(t, c.Close())

	// EXTERNAL without a certificate is refused; TLS 1.1 is refused.
	_, err = amqp.Dial(testCtx(t), url, &amqp.ConnOptions{TLSConfig: &tls.Config{RootCAs: p.pool, MinVersion: tls.VersionTLS12},
		SASLType: amqp.SASLTypeExternal("")})
	require.Error(t, err)
	_, err = amqp.Dial(testCtx(t), url, &amqp.ConnOptions{TLSConfig: &tls.Config{RootCAs: p.pool, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}})
	require.Error(t, err)
}

func TestTLSCertificateReload(t *testing.T) {
	p := newTestPKI(t)
	b := tlsBroker(t, p)
	serial := func() int64 {
		c, err := tls.Dial("tcp", b.TLSAddr().String(), &tls.Config{RootCAs: p.pool, MinVersion: tls.VersionTLS12})
		require.NoError(t, err)
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	assert.Equal(t, int64(10), serial())
	cf, kf, _ := p.issue(t, "server-renewed", 20, true)
	require.NoError(t, os.Rename(cf, b.tls.certFile))
	require.NoError(t, os.Rename(kf, b.tls.keyFile))
	require.NoError(t, b.ReloadTLS())
	assert.Equal(t, int64(20), serial(), "new connections get the new certificate without a restart")
}

func TestTLSInBandUpgrade(t *testing.T) {
	p := newTestPKI(t)
	b := tlsBroker(t, p, func(o *Options) { o.TLSUpgrade = true })
	nc, err := net.Dial("tcp", b.Addr().String())
	require.NoError(t, err)
	defer nc.Close()
	_, err = nc.Write(protocol.AppendProtoHeader(nil, protocol.ProtoTLS))
	require.NoError(t, err)
	var hdr [8]byte
	_, err = readFull(nc, hdr[:])
	require.NoError(t, err)
	ph, err := protocol.ParseProtoHeader(hdr)
	require.NoError(t, err)
	require.Equal(t, protocol.ProtoTLS, ph.ID, "the broker agrees to the upgrade (spec 5.2)")
	tc := tls.Client(nc, &tls.Config{RootCAs: p.pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
	require.NoError(t, tc.Handshake())
	c, err := amqp.NewConn(testCtx(t), tc, &amqp.ConnOptions{SASLType: amqp.SASLTypePlain("guest", "guest")})
	require.NoError(t, err)
	defer c.Close()
	s := newSess(t, c)
	send(t, sender(t, s, "upgraded", nil), "inside TLS")
	assertQueue(t, s, "upgraded", "inside TLS")
}

func TestPermissions(t *testing.T) {
	b := startBroker(t, withTopology, func(o *Options) {
		o.Definitions.Users = []definitions.User{{Name: "app", Password: "pw"}, {Name: "nobody", Password: "pw"}}
		o.Definitions.Permissions = []definitions.Permission{
			// app may publish to "work" and read "work-*" queues, declare nothing.
			{User: "app", Vhost: "/", Configure: "^$", Write: "^work$", Read: "^work-.*"},
		}
	})
	c, err := amqp.Dial(testCtx(t), "amqp://"+b.Addr().String(), &amqp.ConnOptions{SASLType: amqp.SASLTypePlain("app", "pw")})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	s := newSess(t, c)
	send(t, sender(t, s, "/exchanges/work/red", nil), "allowed")
	r := receiver(t, s, "/queues/work-red", nil)
	m := recv(t, r)
	require.NoError(t, r.AcceptMessage(testCtx(t), m))

	denied := func(err error, want string) { t.Helper(); assertDenied(t, err, want) }
	_, err = s.NewSender(testCtx(t), "/exchanges/events/x", nil)
	denied(err, `write access to exchange "events"`)
	_, err = s.NewReceiver(testCtx(t), "/queues/ev-all", nil)
	denied(err, `read access to queue "ev-all"`)
	_, err = s.NewReceiver(testCtx(t), "", &amqp.ReceiverOptions{DynamicAddress: true})
	denied(err, "configure access to queue")
	mc := newMgmtClient(t, newSess(t, c))
	st, body := mc.call("PUT", "/queues/mine", nil)
	assert.Equal(t, 403, st, "%v", body)

	// A user with no permissions on the vhost cannot open a connection to it.
	bad, err := amqp.Dial(testCtx(t), "amqp://"+b.Addr().String(), &amqp.ConnOptions{SASLType: amqp.SASLTypePlain("nobody", "pw")})
	if err == nil {
		_, err = bad.NewSession(testCtx(t), nil)
	}
	var ce *amqp.ConnError
	require.True(t, errors.As(err, &ce), "%v", err)
	require.NotNil(t, ce.RemoteErr)
	assert.Equal(t, amqp.ErrCond("amqp:unauthorized-access"), ce.RemoteErr.Condition)
}

func TestConnectionAndQueueLimits(t *testing.T) {
	b := startBroker(t, func(o *Options) {
		o.Limits.MaxConnectionsPerUser = 2
		o.Limits.MaxQueuesPerVhost = 2
	})
	dial(t, b, nil)
	c2 := dial(t, b, nil)
	third, err := amqp.Dial(testCtx(t), "amqp://"+b.Addr().String(), nil)
	if err == nil {
		_, err = third.NewSession(testCtx(t), nil)
	}
	var ce *amqp.ConnError
	require.True(t, errors.As(err, &ce), "%v", err)
	require.NotNil(t, ce.RemoteErr)
	assert.Equal(t, amqp.ErrCond("amqp:resource-limit-exceeded"), ce.RemoteErr.Condition)

	s := newSess(t, c2)
	sender(t, s, "q1", nil)
	sender(t, s, "q2", nil)
	_, err = s.NewSender(testCtx(t), "q3", nil)
	var ae *amqp.Error
	require.True(t, errors.As(err, &ae), "%v", err)
	assert.Equal(t, amqp.ErrCond("amqp:resource-limit-exceeded"), ae.Condition)
}

func TestFailedLoginsAreRateLimited(t *testing.T) {
	b := startBroker(t)
	// bcrypt under -race takes seconds per check: widen the window so the test measures the rule, not the clock.
	b.auth.limiter.window = 5 * time.Minute
	wrong := &amqp.ConnOptions{SASLType: amqp.SASLTypePlain("guest", "wrong")}
	for range 5 {
		_, err := amqp.Dial(testCtx(t), "amqp://"+b.Addr().String(), wrong)
		require.Error(t, err)
	}
	// Past 5 failures in 10 s, even the right password is refused from this address for a while.
	_, err := amqp.Dial(testCtx(t), "amqp://"+b.Addr().String(), &amqp.ConnOptions{SASLType: amqp.SASLTypePlain("guest", "guest")})
	require.Error(t, err)
	assert.True(t, limiterRefuses(&b.auth.limiter, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}))
	// Anonymous logins check no credentials: the limiter leaves them alone.
	c, err := amqp.Dial(testCtx(t), "amqp://"+b.Addr().String(), &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous()})
	require.NoError(t, err)
	require.NoError(t, c.Close())
}

// assertDenied: err is a refusal with amqp:unauthorized-access whose description names want.
func assertDenied(t *testing.T, err error, want string) {
	t.Helper()
	var ae *amqp.Error
	require.True(t, errors.As(err, &ae), "%v", err)
	assert.Equal(t, amqp.ErrCond("amqp:unauthorized-access"), ae.Condition)
	assert.Contains(t, ae.Description, want)
}
