package actors

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"
)

// tlsState holds the broker's TLS material. The certificate is read through an atomic pointer on every
// handshake, so ReloadTLS (SIGHUP, or the file watch) swaps it without a restart.
type tlsState struct {
	certFile, keyFile, caFile string
	cert                      atomic.Pointer[tls.Certificate]
	cfg                       *tls.Config
	modTime                   time.Time
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
	t := &tlsState{certFile: o.TLSCert, keyFile: o.TLSKey, caFile: o.TLSCA}
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

func (t *tlsState) reload() error {
	cert, err := tls.LoadX509KeyPair(t.certFile, t.keyFile)
	if err != nil {
		return fmt.Errorf("TLS certificate: %w", err)
	}
	t.cert.Store(&cert)
	if fi, err := os.Stat(t.certFile); err == nil {
		t.modTime = fi.ModTime()
	}
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
	if err := b.tls.reload(); err != nil {
		b.log.Error("TLS reload failed; keeping the old certificate", "err", err)
		return err
	}
	b.log.Info("TLS certificate reloaded", "cert", b.tls.certFile)
	return nil
}

func (b *Broker) watchCertificate() {
	t := time.NewTicker(certWatchEvery)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
		}
		if fi, err := os.Stat(b.tls.certFile); err == nil && fi.ModTime().After(b.tls.modTime) {
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
