package actors

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"hash"
	"net"

	"github.com/warren-mq/warren/actors/definitions"
)

// user is a broker user as the authenticator knows it.
type user struct {
	name string
	// check verifies a password; nil means the user cannot log in with a password.
	check func(password string) bool
}

// authenticator decides SASL logins (DESIGN.md §6). It is read-only after NewBroker, so connections'
// handshake goroutines share it without locks.
type authenticator struct {
	users          map[string]*user
	allowAnonymous bool
	guestAnywhere  bool
	anonymousUser  string
}

func newAuthenticator(o Options) (*authenticator, error) {
	a := &authenticator{
		users:          map[string]*user{},
		allowAnonymous: !o.Auth.DisableAnonymous,
		guestAnywhere:  o.Auth.GuestAnywhere,
		anonymousUser:  o.Auth.AnonymousUser,
	}
	// Out of the box, like RabbitMQ: guest/guest, loopback only (the rule is applied at login).
	a.users["guest"] = &user{name: "guest", check: plainCheck("guest")}
	if o.Definitions != nil {
		for i, u := range o.Definitions.Users {
			check, err := passwordCheck(u)
			if err != nil {
				return nil, fmt.Errorf("definitions: users[%d] %q: %w", i, u.Name, err)
			}
			a.users[u.Name] = &user{name: u.Name, check: check}
		}
	}
	return a, nil
}

// loginPlain checks a SASL PLAIN response (RFC 4616: [authzid] NUL authcid NUL passwd).
func (a *authenticator) loginPlain(resp []byte, peer net.Addr) (string, error) {
	parts := bytes.Split(resp, []byte{0})
	if len(parts) != 3 {
		return "", fmt.Errorf("malformed PLAIN response: want authzid NUL authcid NUL password")
	}
	name, pass := string(parts[1]), string(parts[2])
	u, ok := a.users[name]
	if !ok || u.check == nil || !u.check(pass) {
		return "", fmt.Errorf("invalid credentials for user %q", name)
	}
	if err := a.loopbackRule(name, peer); err != nil {
		return "", err
	}
	return name, nil
}

// loginAnonymous admits SASL ANONYMOUS and clients that skip SASL, as the configured anonymous user.
func (a *authenticator) loginAnonymous(peer net.Addr) (string, error) {
	if !a.allowAnonymous {
		return "", fmt.Errorf("anonymous login is disabled")
	}
	if err := a.loopbackRule(a.anonymousUser, peer); err != nil {
		return "", err
	}
	return a.anonymousUser, nil
}

// loopbackRule: guest may connect only from loopback unless configured otherwise (RabbitMQ's loopback_users).
func (a *authenticator) loopbackRule(name string, peer net.Addr) error {
	if name != "guest" || a.guestAnywhere || isLoopback(peer) {
		return nil
	}
	return fmt.Errorf("user %q may only connect from loopback", name)
}

func isLoopback(addr net.Addr) bool {
	switch a := addr.(type) {
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case *net.UnixAddr:
		return true // a Unix socket is local by construction
	case nil:
		return true // net.Pipe in tests
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func plainCheck(want string) func(string) bool {
	return func(got string) bool { return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1 }
}

// passwordCheck understands a plain-text password (development) and RabbitMQ's salted hashes:
// base64(salt[4] ++ H(salt ++ password)) with H = SHA-256 (the default) or SHA-512.
// Stronger hashing (bcrypt/argon2id) comes with the security work.
func passwordCheck(u definitions.User) (func(string) bool, error) {
	if u.PasswordHash == "" {
		if u.Password == "" {
			return nil, nil // a user without a password cannot log in with PLAIN
		}
		return plainCheck(u.Password), nil
	}
	var newHash func() hash.Hash
	switch u.HashingAlgorithm {
	case "", "rabbit_password_hashing_sha256":
		newHash = sha256.New
	case "rabbit_password_hashing_sha512":
		newHash = sha512.New
	default:
		return nil, fmt.Errorf("unsupported hashing_algorithm %q", u.HashingAlgorithm)
	}
	raw, err := base64.StdEncoding.DecodeString(u.PasswordHash)
	if err != nil || len(raw) != 4+newHash().Size() {
		return nil, fmt.Errorf("password_hash is not a RabbitMQ salted hash")
	}
	salt, sum := raw[:4], raw[4:]
	return func(pass string) bool {
		h := newHash()
		h.Write(salt)
		h.Write([]byte(pass))
		return subtle.ConstantTimeCompare(h.Sum(nil), sum) == 1
	}, nil
}
