package actors

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"hash"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/warren-mq/warren/actors/definitions"
	"github.com/warren-mq/warren/protocol"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// user is a broker user as the authenticator knows it.
type user struct {
	name string
	// check verifies a password; nil means the user cannot log in with a password (EXTERNAL only).
	check func(password string) bool
	tags  []string
	// hash and hashing are what check verifies against, as the definitions file writes them
	// (password_hash, hashing_algorithm): the export shows them; no clear password is kept.
	hash, hashing string
	// perms: per vhost, RabbitMQ's configure/write/read regular expressions.
	perms map[string]*permission
}

type permission struct{ configure, write, read *regexp.Regexp }

// permKind names the three RabbitMQ permissions.
type permKind string

const (
	permConfigure permKind = "configure"
	permWrite     permKind = "write"
	permRead      permKind = "read"
)

// internalUser acts for the broker's own extensions; no connection can log in as it (the NUL byte).
const internalUser = "\x00warren"

// guestHash is bcrypt("guest"), computed once so that starting a broker costs no hashing.
const guestHash = "$2a$10$lIaNn.n77cfmaf5zi9SxnO8Qpd0kRfXrtRozArluIsEgRcA9hRgoa"

// authenticator decides SASL logins and permissions (DESIGN.md §6). It is read-only after NewBroker
// (but for the failed-login limiter, which locks), so handshake goroutines and actors share it.
type authenticator struct {
	users          map[string]*user
	allowAnonymous bool
	guestAnywhere  bool
	anonymousUser  string
	limiter        loginLimiter
}

func newAuthenticator(o Options) (*authenticator, error) {
	a := &authenticator{
		users:          map[string]*user{},
		allowAnonymous: !o.Auth.DisableAnonymous,
		guestAnywhere:  o.Auth.GuestAnywhere,
		anonymousUser:  o.Auth.AnonymousUser,
		limiter: loginLimiter{max: o.Auth.FailedLoginLimit, window: 10 * time.Second, seen: map[string][]time.Time{},
			inflight: map[string]int{}, warned: map[string]time.Time{}},
	}
	// Out of the box, like RabbitMQ: guest/guest, administrator, all permissions on "/", loopback only
	// (the rule is applied at login).
	all := regexp.MustCompile(".*")
	a.users["guest"] = &user{name: "guest", check: bcryptCheck([]byte(guestHash)), hash: guestHash, tags: []string{"administrator"},
		perms: map[string]*permission{"/": {configure: all, write: all, read: all}}}
	d := o.Definitions
	if d == nil {
		return a, nil
	}
	// Once loaded, the definitions keep only hashes: a plain-text password (development) is replaced by
	// the bcrypt hash it was turned into, so neither the broker's options nor an export holds it.
	hashed := make([]definitions.User, len(d.Users))
	for i, u := range d.Users {
		check, hash, hashing, err := passwordCheck(u)
		if err != nil {
			return nil, fmt.Errorf("definitions: users[%d] %q: %w", i, u.Name, err)
		}
		a.users[u.Name] = &user{name: u.Name, check: check, hash: hash, hashing: hashing, tags: u.Tags, perms: map[string]*permission{}}
		u.Password, u.PasswordHash, u.HashingAlgorithm = "", hash, hashing
		hashed[i] = u
	}
	d.Users = hashed
	for i, p := range d.Permissions {
		u := a.users[p.User]
		if u == nil {
			return nil, fmt.Errorf("definitions: permissions[%d]: unknown user %q", i, p.User)
		}
		perm := &permission{}
		for _, x := range []struct {
			dst **regexp.Regexp
			src string
		}{{&perm.configure, p.Configure}, {&perm.write, p.Write}, {&perm.read, p.Read}} {
			re, err := permissionRegexp(x.src)
			if err != nil {
				return nil, fmt.Errorf("definitions: permissions[%d] %s@%s: %w", i, p.User, p.Vhost, err)
			}
			*x.dst = re
		}
		u.perms[p.Vhost] = perm
	}
	return a, nil
}

// permissionRegexp compiles a permission as RabbitMQ applies it (re:run): unanchored, so the expression
// may match anywhere in the name ("app-" grants "my-app-q"; anchor with "^app-"), and "" grants nothing
// (nil: RabbitMQ documents it as "^$", which no resource name matches).
func permissionRegexp(src string) (*regexp.Regexp, error) {
	if src == "" {
		return nil, nil
	}
	return regexp.Compile(src)
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

// loginExternal admits the user named by a verified TLS client certificate's subject CN (SASL EXTERNAL).
func (a *authenticator) loginExternal(cn string, peer net.Addr) (string, error) {
	if cn == "" {
		return "", fmt.Errorf("EXTERNAL needs a verified client certificate")
	}
	if _, ok := a.users[cn]; !ok {
		return "", fmt.Errorf("no user %q for the client certificate", cn)
	}
	if err := a.loopbackRule(cn, peer); err != nil {
		return "", err
	}
	return cn, nil
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

// vhostAccess: a user needs some permission on a vhost to open a connection to it (RabbitMQ).
func (a *authenticator) vhostAccess(name, vhost string) *protocol.Error {
	if u := a.users[name]; u != nil && u.perms[vhost] != nil {
		return nil
	}
	return &protocol.Error{Condition: protocol.ErrUnauthorizedAccess,
		Description: fmt.Sprintf("user %q has no permissions on virtual host %q", name, vhost)}
}

// allowed checks one RabbitMQ permission on a resource (an exchange or queue name); the default
// exchange is the resource "amq.default", as in RabbitMQ.
func (a *authenticator) allowed(name, vhost string, kind permKind, resourceKind, resource string) *protocol.Error {
	if name == internalUser {
		return nil
	}
	var re *regexp.Regexp
	if u := a.users[name]; u != nil {
		if p := u.perms[vhost]; p != nil {
			switch kind {
			case permConfigure:
				re = p.configure
			case permWrite:
				re = p.write
			case permRead:
				re = p.read
			}
		}
	}
	if resource == "" && resourceKind == "exchange" {
		resource = "amq.default"
	}
	if re != nil && re.MatchString(resource) {
		return nil
	}
	return &protocol.Error{Condition: protocol.ErrUnauthorizedAccess,
		Description: fmt.Sprintf("%s access to %s %q in virtual host %q refused for user %q", kind, resourceKind, resource, vhost, name)}
}

// hasTag reports whether a user carries one of the tags (management access: administrator, management).
func (a *authenticator) hasTag(name string, tags ...string) bool {
	u := a.users[name]
	if u == nil {
		return false
	}
	for _, t := range tags {
		if slices.Contains(u.tags, t) {
			return true
		}
	}
	return false
}

// loginLimiter rate-limits failed logins per source address: once an address has max failures within
// window, or max credential checks in flight at once, further attempts from it are refused without
// checking credentials (brute force gets nowhere, also when it opens many connections in parallel).
type loginLimiter struct {
	mu       sync.Mutex
	max      int
	window   time.Duration
	seen     map[string][]time.Time // recent failures per address
	inflight map[string]int         // credential checks under way per address
	warned   map[string]time.Time   // when a refusal of the address was last logged
}

const maxTrackedAddresses = 10000

func hostOf(peer net.Addr) string {
	if peer == nil {
		return "pipe"
	}
	host, _, err := net.SplitHostPort(peer.String())
	if err != nil {
		return peer.String()
	}
	return host
}

// admit reserves a credential check for the address, or refuses it when the address is blocked; every
// admitted check ends with one done. Reserving before the check (rather than counting failures after
// it) holds the limit against parallel attempts too.
func (l *loginLimiter) admit(peer net.Addr) bool {
	if l.max < 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	h := hostOf(peer)
	if len(l.recent(h))+l.inflight[h] >= l.max {
		return false
	}
	if l.inflight == nil {
		l.inflight = map[string]int{}
	}
	l.inflight[h]++
	return true
}

// done ends a check that admit reserved; failed records its failure.
func (l *loginLimiter) done(peer net.Addr, failed bool) {
	if l.max < 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	h := hostOf(peer)
	if l.inflight[h]--; l.inflight[h] <= 0 {
		delete(l.inflight, h)
	}
	if failed {
		l.recordFailure(h)
	}
}

// logRefusal reports whether a refusal of the address should be logged: the first one per window, so
// a brute-force run costs a bounded number of log lines.
func (l *loginLimiter) logRefusal(peer net.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	h, now := hostOf(peer), time.Now()
	if last, ok := l.warned[h]; ok && now.Sub(last) < l.window {
		return false
	}
	if l.warned == nil || len(l.warned) >= maxTrackedAddresses {
		for k, t := range l.warned { // bounded memory: forget the addresses whose window is over
			if now.Sub(t) >= l.window {
				delete(l.warned, k)
			}
		}
		if l.warned == nil || len(l.warned) >= maxTrackedAddresses {
			l.warned = map[string]time.Time{}
		}
	}
	l.warned[h] = now
	return true
}

func (l *loginLimiter) recordFailure(h string) {
	if len(l.seen) >= maxTrackedAddresses {
		for k := range l.seen { // bounded memory: forget an arbitrary address
			delete(l.seen, k)
			break
		}
	}
	l.seen[h] = append(l.recent(h), time.Now())
}

func (l *loginLimiter) recent(h string) []time.Time {
	ts := l.seen[h]
	cut := time.Now().Add(-l.window)
	i := 0
	for i < len(ts) && ts[i].Before(cut) {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(l.seen, h)
		return nil
	}
	l.seen[h] = ts
	return ts
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

func bcryptCheck(hash []byte) func(string) bool {
	return func(got string) bool { return bcrypt.CompareHashAndPassword(hash, []byte(got)) == nil }
}

// passwordCheck returns the check of a user's password and the hash it checks against (password_hash
// and hashing_algorithm as the definitions file writes them). A plain-text password from the
// definitions file (development) is hashed with bcrypt at load, so the authenticator keeps no clear
// password. A password_hash is checked as it is: a bcrypt hash ("$2a$…", "$2b$…", "$2y$…"), an argon2id
// PHC string ("$argon2id$v=19$m=…,t=…,p=…$salt$hash"), or RabbitMQ's salted hash
// base64(salt[4] ++ H(salt ++ password)) with H = SHA-256 (the default), SHA-512 or MD5.
func passwordCheck(u definitions.User) (check func(string) bool, hash, hashing string, err error) {
	if u.PasswordHash == "" {
		if u.Password == "" {
			return nil, "", "", nil // a user without a password logs in with EXTERNAL only
		}
		h, err := bcrypt.GenerateFromPassword([]byte(u.Password), bcrypt.DefaultCost)
		if err != nil {
			return nil, "", "", err
		}
		return bcryptCheck(h), string(h), "", nil
	}
	check, err = hashCheck(u)
	if err != nil {
		return nil, "", "", err
	}
	return check, u.PasswordHash, u.HashingAlgorithm, nil
}

// hashCheck checks a password against u.PasswordHash.
func hashCheck(u definitions.User) (func(string) bool, error) {
	switch {
	case strings.HasPrefix(u.PasswordHash, "$2"):
		if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
			return nil, fmt.Errorf("password_hash is not a bcrypt hash: %w", err)
		}
		return bcryptCheck([]byte(u.PasswordHash)), nil
	case strings.HasPrefix(u.PasswordHash, "$argon2"):
		return argon2idCheck(u.PasswordHash)
	}
	var newHash func() hash.Hash
	switch u.HashingAlgorithm {
	case "", "rabbit_password_hashing_sha256":
		newHash = sha256.New
	case "rabbit_password_hashing_sha512":
		newHash = sha512.New
	case "rabbit_password_hashing_md5": // RabbitMQ before 3.6: weak, accepted so that old exports load
		newHash = md5.New
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

// argon2MaxMemory bounds the memory (KiB) one argon2id check may take: 256 MiB, far above the
// recommended 19–64 MiB, so a hash from the file cannot make each login cost gigabytes.
const argon2MaxMemory = 256 << 10

// argon2idCheck parses an argon2id hash in the PHC string format that argon2 tools write.
func argon2idCheck(phc string) (func(string) bool, error) {
	bad := func(why string) (func(string) bool, error) {
		return nil, fmt.Errorf("password_hash is not an argon2id hash ($argon2id$v=19$m=…,t=…,p=…$salt$hash): %s", why)
	}
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" {
		return bad("want six $-separated fields")
	}
	if parts[1] != "argon2id" {
		return bad(fmt.Sprintf("variant %q (only argon2id is supported)", parts[1]))
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return bad(fmt.Sprintf("version %q (want v=%d)", parts[2], argon2.Version))
	}
	var memory, iterations uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &memory, &iterations, &threads); err != nil {
		return bad(fmt.Sprintf("parameters %q", parts[3]))
	}
	if iterations == 0 || threads == 0 || memory < 8*uint32(threads) || memory > argon2MaxMemory {
		return bad(fmt.Sprintf("parameters %q out of range (memory at most %d KiB)", parts[3], argon2MaxMemory))
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return bad("salt")
	}
	sum, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(sum) < 16 {
		return bad("hash")
	}
	return func(pass string) bool {
		got := argon2.IDKey([]byte(pass), salt, iterations, memory, threads, uint32(len(sum)))
		return subtle.ConstantTimeCompare(got, sum) == 1
	}, nil
}
