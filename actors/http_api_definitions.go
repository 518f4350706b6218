package actors

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/warren-mq/warren/actors/definitions"
	"github.com/warren-mq/warren/actors/routing"
	"github.com/warren-mq/warren/protocol"
)

// Definitions (DESIGN.md §5): GET /api/definitions exports the running topology in the shape of
// `rabbitmqctl export_definitions`; POST /api/definitions imports one, applying its exchanges, queues
// and bindings through the management operations. Users, virtual hosts and permissions are fixed when
// the broker starts: the import applies none and warns about those it does not already have.

func (b *Broker) apiExportDefinitions(_ *http.Request, _ *apiUser) (apiReply, error) {
	d, err := b.exportDefinitions()
	if err != nil {
		return apiReply{}, err
	}
	data, err := d.Marshal()
	if err != nil {
		return apiReply{}, apiErrorf(http.StatusInternalServerError, "encoding the definitions: %v", err)
	}
	return apiOK(json.RawMessage(data))
}

// exportDefinitions snapshots users, vhosts, permissions and every vhost's topology. The predeclared
// exchanges, exclusive queues (which belong to a connection) and the bindings to those are left out,
// as RabbitMQ does; passwords appear only as their hashes (see exportUser).
func (b *Broker) exportDefinitions() (*definitions.Definitions, error) {
	d := &definitions.Definitions{}
	for _, name := range b.apiUserNames() {
		d.Users = append(d.Users, b.exportUser(name))
	}
	vhosts := make([]string, 0, len(b.vhosts))
	for name := range b.vhosts {
		vhosts = append(vhosts, name)
	}
	slices.Sort(vhosts)
	for _, name := range vhosts {
		d.Vhosts = append(d.Vhosts, definitions.Vhost{Name: name})
	}
	d.Permissions = b.brokerPermissions()
	views, err := b.vhostViews(vhosts)
	if err != nil {
		return nil, err
	}
	for _, v := range views {
		for _, x := range v.exchanges {
			if x.name == "" || strings.HasPrefix(x.name, "amq.") {
				continue
			}
			d.Exchanges = append(d.Exchanges, definitions.Exchange{Name: x.name, Vhost: v.name, Type: x.kind, Durable: x.durable,
				AutoDelete: x.autoDelete, Internal: x.internal, Arguments: apiExportArgs(x.args)})
		}
		exclusive := map[string]bool{}
		for _, q := range v.queues {
			if q.exclusive {
				exclusive[q.name] = true
				continue
			}
			d.Queues = append(d.Queues, definitions.Queue{Name: q.name, Vhost: v.name, Durable: q.durable,
				AutoDelete: q.autoDelete, Arguments: apiExportArgs(q.args)})
		}
		for _, bd := range v.bindings {
			if !bd.dest.Exchange && exclusive[bd.dest.Name] {
				continue
			}
			dtype := definitions.DestinationQueue
			if bd.dest.Exchange {
				dtype = definitions.DestinationExchange
			}
			d.Bindings = append(d.Bindings, definitions.Binding{Source: bd.source, Vhost: v.name, Destination: bd.dest.Name,
				DestinationType: dtype, RoutingKey: bd.key, Arguments: apiExportArgs(bd.args)})
		}
	}
	return d, nil
}

func apiExportArgs(args map[string]any) map[string]any {
	if len(args) == 0 {
		return nil
	}
	return apiArgs(args)
}

// exportUser is a user as the authenticator holds it: its password only as the hash the login checks
// (RabbitMQ's salted hash as the file gave it, or bcrypt/argon2id; plain-text passwords were hashed with
// bcrypt at load), never in clear.
func (b *Broker) exportUser(name string) definitions.User {
	u := definitions.User{Name: name, Tags: b.userTags(name)}
	if au := b.auth.users[name]; au != nil {
		u.PasswordHash, u.HashingAlgorithm = au.hash, au.hashing
	}
	return u
}

// apiWarnings is an slog.Handler that keeps the parser's warnings for the import's reply.
type apiWarnings struct {
	mu    sync.Mutex
	lines []string
}

func (w *apiWarnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (w *apiWarnings) Handle(_ context.Context, r slog.Record) error {
	var sb strings.Builder
	sb.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&sb, " %s=%v", a.Key, a.Value)
		return true
	})
	w.add(sb.String())
	return nil
}

func (w *apiWarnings) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *apiWarnings) WithGroup(string) slog.Handler      { return w }

func (w *apiWarnings) add(s string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lines = append(w.lines, s)
}

// apiImportDefinitions: POST /api/definitions with a definitions file → 200 {"exchanges": n,
// "queues": n, "bindings": n, "warnings": [...]}. It is not atomic, like RabbitMQ's: on a failure
// (an unknown exchange type, a queue that exists with other properties…) what came before stays and
// the error names the entry.
func (b *Broker) apiImportDefinitions(r *http.Request, u *apiUser) (apiReply, error) {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return apiReply{}, err
	}
	warn := &apiWarnings{}
	d, err := definitions.Parse(data, slog.New(warn))
	if err != nil {
		return apiReply{}, apiErrorf(http.StatusBadRequest, "%v", err)
	}
	for _, v := range d.Vhosts {
		if b.vhosts[v.Name] == nil {
			warn.add(fmt.Sprintf("virtual host %q does not exist and is not created: virtual hosts are fixed at start", v.Name))
		}
	}
	check := func(kind, name, vhost string) error {
		if b.vhosts[vhostOrRoot(vhost)] == nil {
			return apiErrorf(http.StatusBadRequest, "%s %q: virtual host %q does not exist (virtual hosts are fixed at start)", kind, name, vhostOrRoot(vhost))
		}
		return nil
	}
	for _, x := range d.Exchanges {
		if err := check("exchange", x.Name, x.Vhost); err != nil {
			return apiReply{}, err
		}
	}
	for _, q := range d.Queues {
		if err := check("queue", q.Name, q.Vhost); err != nil {
			return apiReply{}, err
		}
	}
	for _, bd := range d.Bindings {
		if err := check("binding from", bd.Source, bd.Vhost); err != nil {
			return apiReply{}, err
		}
	}
	for _, u := range d.Users {
		if b.auth.users[u.Name] == nil {
			warn.add(fmt.Sprintf("user %q is not created: users are fixed at start", u.Name))
		}
	}
	have := b.brokerPermissions()
	for _, p := range d.Permissions {
		p.Vhost = vhostOrRoot(p.Vhost)
		if !slices.ContainsFunc(have, func(h definitions.Permission) bool { h.Vhost = vhostOrRoot(h.Vhost); return h == p }) {
			warn.add(fmt.Sprintf("permission of %q in %q is not applied: permissions are fixed at start", p.User, p.Vhost))
		}
	}
	n, err := b.applyDefinitions(d, u.name, warn)
	if err != nil {
		return apiReply{}, err
	}
	n["warnings"] = append([]string{}, warn.lines...)
	return apiOK(n)
}

// applyDefinitions declares exchanges, queues and bindings as user, whose permissions apply.
func (b *Broker) applyDefinitions(d *definitions.Definitions, user string, warn *apiWarnings) (map[string]any, error) {
	var nx, nq, nb int
	fail := func(what string, err error) error {
		if ae, ok := err.(*apiError); ok {
			return &apiError{status: ae.status, reason: what + ": " + ae.reason}
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	for _, x := range d.Exchanges {
		if x.Name == "" || strings.HasPrefix(x.Name, "amq.") {
			continue
		}
		args, err := apiFromJSON(apiOrEmpty(x.Arguments))
		if err != nil {
			return nil, fail(fmt.Sprintf("exchange %q", x.Name), apiErrorf(http.StatusBadRequest, "arguments %v", err))
		}
		req := protocol.Map{{Key: "type", Value: x.Type}, {Key: "durable", Value: x.Durable}, {Key: "auto_delete", Value: x.AutoDelete},
			{Key: "internal", Value: x.Internal}, {Key: "arguments", Value: args}}
		if _, err := b.mgmtCall(b.vhosts[vhostOrRoot(x.Vhost)], user, "PUT", "/exchanges/"+url.PathEscape(x.Name), req); err != nil {
			return nil, fail(fmt.Sprintf("exchange %q in virtual host %q", x.Name, vhostOrRoot(x.Vhost)), err)
		}
		nx++
	}
	for _, q := range d.Queues {
		if q.Exclusive {
			warn.add(fmt.Sprintf("queue %q is exclusive and is not declared: exclusive queues belong to a connection", q.Name))
			continue
		}
		args, err := apiFromJSON(apiOrEmpty(q.Arguments))
		if err != nil {
			return nil, fail(fmt.Sprintf("queue %q", q.Name), apiErrorf(http.StatusBadRequest, "arguments %v", err))
		}
		req := protocol.Map{{Key: "durable", Value: q.Durable}, {Key: "auto_delete", Value: q.AutoDelete},
			{Key: "exclusive", Value: false}, {Key: "arguments", Value: args}}
		if _, err := b.mgmtCall(b.vhosts[vhostOrRoot(q.Vhost)], user, "PUT", "/queues/"+url.PathEscape(q.Name), req); err != nil {
			return nil, fail(fmt.Sprintf("queue %q in virtual host %q", q.Name, vhostOrRoot(q.Vhost)), err)
		}
		nq++
	}
	for _, bd := range d.Bindings {
		args, err := apiFromJSON(apiOrEmpty(bd.Arguments))
		if err != nil {
			return nil, fail(fmt.Sprintf("binding %q → %q", bd.Source, bd.Destination), apiErrorf(http.StatusBadRequest, "arguments %v", err))
		}
		dest := routing.Destination{Exchange: bd.DestinationType == definitions.DestinationExchange, Name: bd.Destination}
		destKey := "destination_queue"
		if dest.Exchange {
			destKey = "destination_exchange"
		}
		req := protocol.Map{{Key: "source", Value: bd.Source}, {Key: destKey, Value: bd.Destination},
			{Key: "binding_key", Value: bd.RoutingKey}, {Key: "arguments", Value: args}}
		if _, err := b.mgmtCall(b.vhosts[vhostOrRoot(bd.Vhost)], user, "POST", "/bindings", req); err != nil {
			return nil, fail(fmt.Sprintf("binding %q → %s %q in virtual host %q", bd.Source, bd.DestinationType, bd.Destination, vhostOrRoot(bd.Vhost)), err)
		}
		nb++
	}
	return map[string]any{"exchanges": nx, "queues": nq, "bindings": nb}, nil
}

func apiOrEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}
