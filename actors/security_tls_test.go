package actors

import (
	"context"
	"crypto/tls"
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

// The file watch reloads a renewed pair without SIGHUP, waits while only half of a renewal is written,
// and also notices a pair whose files are older than the loaded ones (a rollback).
func TestTLSCertificateFileWatch(t *testing.T) {
	p := newTestPKI(t)
	cf, kf, _ := p.issue(t, "server", 10, true)
	b, err := NewBroker(Options{AMQPAddr: "127.0.0.1:0", AMQPSAddr: "127.0.0.1:0", TLSCert: cf, TLSKey: kf, Logger: testLogger()})
	require.NoError(t, err)
	b.tls.watchEvery = 20 * time.Millisecond
	require.NoError(t, b.Start())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, b.Shutdown(ctx))
	})
	serial := func() int64 {
		c, err := tls.Dial("tcp", b.TLSAddr().String(), &tls.Config{RootCAs: p.pool, MinVersion: tls.VersionTLS12})
		require.NoError(t, err)
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	require.Equal(t, int64(10), serial())
	oldCert, err := os.ReadFile(cf)
	require.NoError(t, err)
	oldKey, err := os.ReadFile(kf)
	require.NoError(t, err)

	// A renewal written in two steps: the new certificate first, its key a little later.
	ncf, nkf, _ := p.issue(t, "server-renewed", 20, true)
	require.NoError(t, os.Rename(ncf, cf))
	time.Sleep(10 * b.tls.watchEvery)
	assert.Equal(t, int64(10), serial(), "a certificate without its key is not loaded; the old pair keeps serving")
	require.NoError(t, os.Rename(nkf, kf))
	require.Eventually(t, func() bool { return serial() == 20 }, 5*time.Second, 10*time.Millisecond,
		"the watch reloads the renewed pair")

	// Roll back to the first pair, with its files dated before the ones just loaded.
	for name, data := range map[string][]byte{cf: oldCert, kf: oldKey} {
		tmp := filepath.Join(filepath.Dir(name), "rollback.tmp")
		require.NoError(t, os.WriteFile(tmp, data, 0o600))
		past := time.Now().Add(-time.Hour)
		require.NoError(t, os.Chtimes(tmp, past, past))
		require.NoError(t, os.Rename(tmp, name))
	}
	require.Eventually(t, func() bool { return serial() == 10 }, 5*time.Second, 10*time.Millisecond,
		"the watch reloads a pair older than the loaded one")
}

// Inside TLS there is nothing to upgrade: "AMQP 2 1 0 0" on the AMQPS port, or a second one after an
// in-band upgrade, is refused with the SASL header instead of an agreement followed by a hang-up.
func TestTLSUpgradeRefusedInsideTLS(t *testing.T) {
	p := newTestPKI(t)
	b := tlsBroker(t, p, func(o *Options) { o.TLSUpgrade = true })
	clientCfg := &tls.Config{RootCAs: p.pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	askTLS := func(nc net.Conn) {
		t.Helper()
		c := &rawClient{t: t, nc: nc, fr: protocol.NewFrameReader(nc, 1<<20)}
		c.write(protocol.AppendProtoHeader(nil, protocol.ProtoTLS))
		got := c.readAll()
		require.Len(t, got, 8, "%q", got)
		h, err := protocol.ParseProtoHeader([8]byte(got))
		require.NoError(t, err)
		assert.Equal(t, protocol.ProtoSASL, h.ID, "refused: the broker answers with the header it wants")
	}
	t.Run("AMQPS port", func(t *testing.T) {
		tc, err := tls.Dial("tcp", b.TLSAddr().String(), clientCfg)
		require.NoError(t, err)
		defer tc.Close()
		askTLS(tc)
	})
	t.Run("after an in-band upgrade", func(t *testing.T) {
		nc, err := net.Dial("tcp", b.Addr().String())
		require.NoError(t, err)
		defer nc.Close()
		c := &rawClient{t: t, nc: nc, fr: protocol.NewFrameReader(nc, 1<<20)}
		c.write(protocol.AppendProtoHeader(nil, protocol.ProtoTLS))
		require.Equal(t, protocol.ProtoTLS, c.readHeader().ID)
		tc := tls.Client(nc, clientCfg)
		require.NoError(t, tc.Handshake())
		askTLS(tc)
	})
	assertBrokerServes(t, b)
}

// EXTERNAL admits only the user named by the CN of a certificate that verified against --tls-ca.
func TestTLSExternalNeedsUserAndTrustedCertificate(t *testing.T) {
	p := newTestPKI(t)
	b := tlsBroker(t, p, func(o *Options) {
		o.Definitions = &definitions.Definitions{Users: []definitions.User{{Name: "carol"}}, Permissions: allOn("/", "carol")}
	})
	url := "amqps://" + b.TLSAddr().String()
	dialWith := func(cert tls.Certificate) error { return dialExternal(t, url, p, cert) }
	_, _, carol := p.issue(t, "carol", 30, false)
	require.NoError(t, dialWith(carol))
	_, _, mallory := p.issue(t, "mallory", 31, false)
	require.Error(t, dialWith(mallory), "a trusted certificate for a user that does not exist")

	other := newTestPKI(t) // a CA the broker does not trust, issuing "carol"
	_, _, forged := other.issue(t, "carol", 32, false)
	require.Error(t, dialWith(forged), "a certificate from another CA")

	// PLAIN without a password is not a way in for carol either.
	_, err := amqp.Dial(testCtx(t), url, &amqp.ConnOptions{SASLType: amqp.SASLTypePlain("carol", ""),
		TLSConfig: &tls.Config{RootCAs: p.pool, MinVersion: tls.VersionTLS12}})
	require.Error(t, err)
}

// --tls-ca reloads with the certificate: on ReloadTLS (SIGHUP) and when the file changes, a new CA
// bundle decides which client certificates verify (SASL EXTERNAL); a CA file that does not parse keeps
// the old pool.
func TestTLSCAReload(t *testing.T) {
	p, other := newTestPKI(t), newTestPKI(t)
	cf, kf, _ := p.issue(t, "server", 10, true)
	b, err := NewBroker(Options{AMQPAddr: "127.0.0.1:0", AMQPSAddr: "127.0.0.1:0", TLSCert: cf, TLSKey: kf, TLSCA: p.caFile,
		Logger: testLogger(), Definitions: &definitions.Definitions{Users: []definitions.User{{Name: "carol"}},
			Permissions: allOn("/", "carol")}})
	require.NoError(t, err)
	b.tls.watchEvery = 20 * time.Millisecond
	require.NoError(t, b.Start())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, b.Shutdown(ctx))
	})
	external := func(cert tls.Certificate) error { return dialExternal(t, "amqps://"+b.TLSAddr().String(), p, cert) }
	_, _, fromP := p.issue(t, "carol", 30, false)
	_, _, fromOther := other.issue(t, "carol", 31, false)
	require.NoError(t, external(fromP))
	require.Error(t, external(fromOther), "the other CA is not trusted yet")

	// replaceCA writes the CA file as a renewal would (a new file renamed over the old one), dated at
	// an hour offset so the watch sees it change.
	n := 0
	replaceCA := func(data []byte) {
		n++
		tmp := filepath.Join(t.TempDir(), "ca.tmp")
		require.NoError(t, os.WriteFile(tmp, data, 0o600))
		when := time.Now().Add(time.Duration(n) * time.Hour)
		require.NoError(t, os.Chtimes(tmp, when, when))
		require.NoError(t, os.Rename(tmp, p.caFile))
	}
	pPEM, err := os.ReadFile(p.caFile)
	require.NoError(t, err)
	otherPEM, err := os.ReadFile(other.caFile)
	require.NoError(t, err)

	// SIGHUP: the daemon calls ReloadTLS. (The watch may get there first; either way the new bundle serves.)
	replaceCA(append(append([]byte{}, pPEM...), otherPEM...))
	require.NoError(t, b.ReloadTLS())
	require.NoError(t, external(fromOther), "trusted after the reload")
	require.NoError(t, external(fromP), "the bundle still holds the first CA")

	// The file watch, without SIGHUP: only the other CA now.
	replaceCA(otherPEM)
	require.Eventually(t, func() bool { return external(fromP) != nil }, 5*time.Second, 20*time.Millisecond,
		"the watch reloads the CA file")
	require.NoError(t, external(fromOther))

	// A CA file being rewritten (no certificate in it yet) is not loaded: the old pool stays.
	replaceCA([]byte("-----BEGIN CERT"))
	require.Error(t, b.ReloadTLS())
	time.Sleep(10 * b.tls.watchEvery)
	require.NoError(t, external(fromOther), "the last good CA pool keeps serving")
	require.Error(t, external(fromP))
}

// dialExternal logs in over TLS with SASL EXTERNAL and cert (trusting p's CA) and begins a session.
func dialExternal(t *testing.T, url string, p *testPKI, cert tls.Certificate) error {
	c, err := amqp.Dial(testCtx(t), url, &amqp.ConnOptions{SASLType: amqp.SASLTypeExternal(""),
		TLSConfig: &tls.Config{RootCAs: p.pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}})
	if err == nil {
		_, err = c.NewSession(testCtx(t), nil)
		_ = c.Close()
	}
	return err
}
