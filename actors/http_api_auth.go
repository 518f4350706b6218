package actors

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/warren-mq/warren/actors/definitions"
)

// Who may use the HTTP API (RabbitMQ's management plugin rules): a broker user, checked like an AMQP
// SASL PLAIN login (the same password check, the same loopback rule for guest and the same failed-login
// limiter), whose tags grant management access. "administrator" sees every virtual host; "management"
// (and "monitoring" and "policymaker", which RabbitMQ defines as management plus more) sees only the
// virtual hosts it has permissions on, and not users, permissions or definitions. guest is an
// administrator, as RabbitMQ creates it. What a user may change is then up to its permissions, which
// the vhost's management operations check (configure to declare and delete, write and read to bind;
// read to get messages, write to publish them). Connections (and their sessions) are RabbitMQ's
// stricter: administrator and monitoring see all of them; other users see and close their own only.

// apiUser is an authenticated API user.
type apiUser struct {
	name  string
	tags  []string
	admin bool
	// monitor: administrator or monitoring, who see every connection; the others see their own only
	// (RabbitMQ's is_monitor)
	monitor bool
	// vhosts a non-administrator may see: those it has permissions on
	vhosts map[string]bool
}

func (u *apiUser) canAccess(vhost string) bool { return u.admin || u.vhosts[vhost] }

// seesConnection: a connection is listed for administrators and monitoring users in its vhost, and
// for its own user.
func (u *apiUser) seesConnection(h *connHandle) bool {
	return u.canAccess(h.vname) && (u.monitor || h.user == u.name)
}

var managementTags = []string{"administrator", "management", "monitoring", "policymaker"}

// apiLoginCache remembers successful logins for a minute, so that a client polling the API does not
// pay a password hash (bcrypt costs tens of milliseconds) per request. Entries are keyed by an HMAC of
// the credentials under a random per-broker key; users and passwords are fixed after start, so an entry
// cannot go stale. The loopback rule is checked on every request.
type apiLoginCache struct {
	mu      sync.Mutex
	key     [32]byte
	entries map[[32]byte]time.Time // → expiry
}

const (
	apiLoginTTL       = time.Minute
	apiLoginCacheSize = 1024
)

func newAPILoginCache() *apiLoginCache {
	c := &apiLoginCache{entries: map[[32]byte]time.Time{}}
	_, _ = rand.Read(c.key[:])
	return c
}

func (c *apiLoginCache) id(name, pass string) [32]byte {
	m := hmac.New(sha256.New, c.key[:])
	m.Write([]byte(name))
	m.Write([]byte{0})
	m.Write([]byte(pass))
	var id [32]byte
	copy(id[:], m.Sum(nil))
	return id
}

func (c *apiLoginCache) hit(id [32]byte, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, ok := c.entries[id]
	if ok && now.After(exp) {
		delete(c.entries, id)
		return false
	}
	return ok
}

func (c *apiLoginCache) add(id [32]byte, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= apiLoginCacheSize {
		for k, exp := range c.entries {
			if now.After(exp) {
				delete(c.entries, k)
			}
		}
		for k := range c.entries { // still full: forget an arbitrary one (bounded memory)
			if len(c.entries) < apiLoginCacheSize {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[id] = now.Add(apiLoginTTL)
}

// authenticate checks the request's basic-auth credentials: none or wrong → 401, too many failures
// from the client's address → 429, a user without a management tag → 403.
func (rt *apiRouter) authenticate(r *http.Request) (*apiUser, error) {
	b := rt.b
	name, pass, ok := r.BasicAuth()
	if !ok {
		return nil, apiErrorf(http.StatusUnauthorized, "authentication required: HTTP basic auth with a broker user")
	}
	peer := apiPeer(r)
	id, now := rt.logins.id(name, pass), time.Now()
	if rt.logins.hit(id, now) {
		if err := b.auth.loopbackRule(name, peer); err != nil {
			return nil, apiErrorf(http.StatusUnauthorized, "login failed: %v", err)
		}
	} else {
		// As the SASL login does: the check is reserved before it runs, so parallel requests cannot
		// all be checked before the first failure counts.
		if !b.auth.limiter.admit(peer) {
			if b.auth.limiter.logRefusal(peer) {
				b.log.Warn("HTTP API login refused: too many failed attempts", "peer", r.RemoteAddr)
			}
			return nil, apiErrorf(http.StatusTooManyRequests, "too many failed logins from this address: try again later")
		}
		// RFC 4616 PLAIN: authzid NUL authcid NUL passwd (an empty authzid).
		user, err := b.auth.loginPlain([]byte("\x00"+name+"\x00"+pass), peer)
		b.auth.limiter.done(peer, err != nil)
		if err != nil {
			b.log.Warn("HTTP API login failed", "peer", r.RemoteAddr, "err", err)
			return nil, apiErrorf(http.StatusUnauthorized, "login failed: %v", err)
		}
		name = user
		rt.logins.add(id, now)
	}
	if !b.auth.hasTag(name, managementTags...) {
		return nil, apiErrorf(http.StatusForbidden, "user %q is not tagged administrator or management", name)
	}
	au := b.auth.users[name]
	u := &apiUser{name: name, tags: slices.Clone(au.tags), admin: b.auth.hasTag(name, "administrator"),
		monitor: b.auth.hasTag(name, "administrator", "monitoring"), vhosts: map[string]bool{}}
	for vhost := range au.perms {
		u.vhosts[vhost] = true
	}
	return u, nil
}

// adminOnly wraps a handler that only administrators may call.
func adminOnly(h apiHandler) apiHandler {
	return func(r *http.Request, u *apiUser) (apiReply, error) {
		if !u.admin {
			return apiReply{}, apiErrorf(http.StatusForbidden, "user %q is not an administrator", u.name)
		}
		return h(r, u)
	}
}

// userTags are a user's tags (nil for an unknown user).
func (b *Broker) userTags(name string) []string {
	if u := b.auth.users[name]; u != nil {
		return slices.Clone(u.tags)
	}
	return nil
}

// apiPeer is the client's address for the loopback rule; an unparsable one counts as remote.
func apiPeer(r *http.Request) net.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return &net.TCPAddr{}
	}
	return net.TCPAddrFromAddrPort(ap)
}

func vhostOrRoot(v string) string {
	if v == "" {
		return definitions.DefaultVhost
	}
	return v
}
