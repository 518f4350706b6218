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

// tlsState holds the broker's TLS material. Every handshake reads the certificate and the client CA
// pool through an atomic pointer, so ReloadTLS (SIGHUP, or the file watch) swaps them without a restart.
type tlsState struct {
	certFile, keyFile, caFile string
	mu                        sync.Mutex // serialises reloads (SIGHUP and the watch) and guards files
	// live is the configuration of new handshakes: the certificate and, with --tls-ca, the pool client
	// certificates are verified against, loaded together.
	live atomic.Pointer[tls.Config]
	// cfg is what the listeners and the in-band upgrade use; it hands each handshake live.
	cfg *tls.Config
	// files is what the certificate, key and CA files looked like at the last (re)load; the watch
	// reloads when any differs, so a renewed pair, a rolled-back older one, a new CA bundle or a
	// swapped symlink all count.
	files      [3]fileStamp
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

func (t *tlsState) stamps() [3]fileStamp {
	s := [3]fileStamp{stampOf(t.certFile), stampOf(t.keyFile)}
	if t.caFile != "" {
		s[2] = stampOf(t.caFile)
	}
	return s
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
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return t.live.Load(), nil
		},
	}
	return t, nil
}

// reload loads the pair and the CA file; on any failure (a half-written renewal, a key that does not
// match yet, a CA bundle being rewritten) the old certificate and CA pool stay, and the file stamps are
// not updated, so the watch tries again at its next tick.
func (t *tlsState) reload() error {
	st := t.stamps()
	cert, err := tls.LoadX509KeyPair(t.certFile, t.keyFile)
	if err != nil {
		return fmt.Errorf("TLS certificate: %w", err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if t.caFile != "" {
		pem, err := os.ReadFile(t.caFile)
		if err != nil {
			return fmt.Errorf("TLS CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("TLS CA %s holds no PEM certificate", t.caFile)
		}
		// Client certificates are verified when presented (SASL EXTERNAL); a client without one can
		// still log in with PLAIN or ANONYMOUS, as RabbitMQ's default fail_if_no_peer_cert=false.
		// A resumed session is no way around a new pool: crypto/tls verifies its chain again against
		// the ClientCAs of the handshake resuming it.
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	t.live.Store(cfg)
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

// ReloadTLS re-reads the certificate, the key and the CA file (--tls-ca); connections made afterwards use
// them. The daemon calls it on SIGHUP; the broker also reloads by itself when one of the files changes.
func (b *Broker) ReloadTLS() error {
	if b.tls == nil {
		return fmt.Errorf("TLS is not configured")
	}
	b.tls.mu.Lock()
	err := b.tls.reload()
	b.tls.mu.Unlock()
	if err != nil {
		b.log.Error("TLS reload failed; keeping the old certificate and CA", "err", err)
		return err
	}
	b.log.Info("TLS certificate reloaded", "cert", b.tls.certFile, "ca", b.tls.caFile)
	return nil
}

// watchCertificate reloads the TLS material when the certificate, the key or the CA file changes. It runs
// on its own goroutine; reload and the file stamps are touched only here and by ReloadTLS.
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
