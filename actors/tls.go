package actors

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// tlsState holds the broker's TLS material. The certificate is read through an atomic pointer on every
// handshake, so ReloadTLS (SIGHUP, or the file watch) swaps it without a restart.
type tlsState struct {
	certFile, keyFile, caFile string
	mu                        sync.Mutex // serialises reloads (SIGHUP and the watch) and guards files
	cert                      atomic.Pointer[tls.Certificate]
	cfg                       *tls.Config
	// files is what the certificate and key files looked like at the last (re)load; the watch reloads
	// when either differs, so a renewed pair, a rolled-back older one or a swapped symlink all count.
	files      [2]fileStamp
	watchEvery time.Duration
}

// fileStamp is what the watch compares: any change of modification time or size is a new file.
type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(name string) fileStamp {
	fi, err := os.Stat(name)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{mod: fi.ModTime(), size: fi.Size()}
}

func (t *tlsState) stamps() [2]fileStamp {
	return [2]fileStamp{stampOf(t.certFile), stampOf(t.keyFile)}
}

func (t *tlsState) filesChanged() bool {
	now := t.stamps()
	for i, s := range now {
		if !s.mod.Equal(t.files[i].mod) || s.size != t.files[i].size {
			return true
		}
	}
	return false
}

// errUpgradeTLS ends the plain negotiation when the client asked for the in-band TLS upgrade.
var errUpgradeTLS = errors.New("the client upgrades to TLS")

// certWatchEvery is how often the certificate files are checked for changes.
const certWatchEvery = 5 * time.Second

func newTLSState(o Options) (*tlsState, error) {
	if o.TLSCert == "" && o.TLSKey == "" {
		if o.AMQPSAddr != "" || o.TLSUpgrade || o.TLSCA != "" {
			return nil, fmt.Errorf("TLS needs a certificate and key (--tls-cert, --tls-key)")
		}
		return nil, nil
	}
	if o.TLSCert == "" || o.TLSKey == "" {
		return nil, fmt.Errorf("TLS needs both --tls-cert and --tls-key")
	}
	t := &tlsState{certFile: o.TLSCert, keyFile: o.TLSKey, caFile: o.TLSCA, watchEvery: certWatchEvery}
	if err := t.reload(); err != nil {
		return nil, err
	}
	t.cfg = &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return t.cert.Load(), nil
		},
	}
	if o.TLSCA != "" {
		pem, err := os.ReadFile(o.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("TLS CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("TLS CA %s holds no PEM certificate", o.TLSCA)
		}
		// Client certificates are verified when presented (SASL EXTERNAL); a client without one can
		// still log in with PLAIN or ANONYMOUS, as RabbitMQ's default fail_if_no_peer_cert=false.
		t.cfg.ClientCAs = pool
		t.cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return t, nil
}

// reload loads the pair; on failure (a half-written renewal, a key that does not match yet) the old
// certificate stays, and the file stamps are not updated, so the watch tries again at its next tick.
func (t *tlsState) reload() error {
	st := t.stamps()
	cert, err := tls.LoadX509KeyPair(t.certFile, t.keyFile)
	if err != nil {
		return fmt.Errorf("TLS certificate: %w", err)
	}
	t.cert.Store(&cert)
	t.files = st
	return nil
}

// tlsConfig is nil when TLS is not configured.
func (b *Broker) tlsConfig() *tls.Config {
	if b.tls == nil {
		return nil
	}
	return b.tls.cfg
}

// ReloadTLS re-reads the certificate and key; connections made afterwards use them. The daemon calls it
// on SIGHUP; the broker also reloads by itself when the certificate file changes.
func (b *Broker) ReloadTLS() error {
	if b.tls == nil {
		return fmt.Errorf("TLS is not configured")
	}
	b.tls.mu.Lock()
	err := b.tls.reload()
	b.tls.mu.Unlock()
	if err != nil {
		b.log.Error("TLS reload failed; keeping the old certificate", "err", err)
		return err
	}
	b.log.Info("TLS certificate reloaded", "cert", b.tls.certFile)
	return nil
}

// watchCertificate reloads the pair when the certificate or the key file changes. It runs on its own
// goroutine; reload and the file stamps are touched only here and by ReloadTLS.
func (b *Broker) watchCertificate() {
	t := time.NewTicker(b.tls.watchEvery)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
		}
		b.tls.mu.Lock()
		changed := b.tls.filesChanged()
		b.tls.mu.Unlock()
		if changed {
			_ = b.ReloadTLS()
		}
	}
}

// verifiedClientCN is the subject CN of a TLS client certificate that verified against --tls-ca.
func verifiedClientCN(nc net.Conn) string {
	tc, ok := nc.(*tls.Conn)
	if !ok {
		return ""
	}
	st := tc.ConnectionState()
	if len(st.VerifiedChains) == 0 || len(st.PeerCertificates) == 0 {
		return ""
	}
	return st.PeerCertificates[0].Subject.CommonName
}
