package actors

import (
	"cmp"
	"net/http"
	"slices"

	"github.com/warren-mq/warren/actors/definitions"
)

// The broker as a whole: overview, virtual hosts, users and permissions.

type apiTotals struct {
	queues, exchanges, consumers, ready, unacked int
}

func (b *Broker) apiTotalsOf(views []*apiVhostView) map[string]*apiTotals {
	out := map[string]*apiTotals{}
	for _, v := range views {
		t := &apiTotals{queues: len(v.queues), exchanges: len(v.exchanges)}
		counts, ok := b.queueCounts(v.queues)
		for i := range counts {
			if ok[i] {
				t.consumers += counts[i].consumers
				t.ready += counts[i].ready
				t.unacked += counts[i].unacked
			}
		}
		out[v.name] = t
	}
	return out
}

func apiQueueTotals(t *apiTotals) map[string]any {
	return map[string]any{"messages": t.ready + t.unacked, "messages_ready": t.ready, "messages_unacknowledged": t.unacked}
}

// apiOverview: GET /api/overview — version, object totals, message totals and message rates
// (message_stats) over the vhosts the user may see.
// apiHealthAlarms is RabbitMQ's alarms health check: 200 {"status":"ok"} without alarms, else 503
// {"status":"failed", "reason", "alarms"} (memory, disk, queues or exchanges given up; Broker.Alarms).
func (b *Broker) apiHealthAlarms(*http.Request, *apiUser) (apiReply, error) {
	alarms := b.Alarms()
	if len(alarms) == 0 {
		return apiOK(map[string]any{"status": "ok"})
	}
	return apiReply{status: http.StatusServiceUnavailable,
		body: map[string]any{"status": "failed", "reason": "there are alarms in effect", "alarms": alarms}}, nil
}

func (b *Broker) apiOverview(r *http.Request, u *apiUser) (apiReply, error) {
	names, err := b.apiVhostsFor(r, u)
	if err != nil {
		return apiReply{}, err
	}
	views, err := b.vhostViews(names)
	if err != nil {
		return apiReply{}, err
	}
	sum := &apiTotals{}
	for _, t := range b.apiTotalsOf(views) {
		sum.queues += t.queues
		sum.exchanges += t.exchanges
		sum.consumers += t.consumers
		sum.ready += t.ready
		sum.unacked += t.unacked
	}
	conns, channels := 0, 0
	for _, h := range b.apiConns() {
		if !u.seesConnection(h) {
			continue
		}
		if cv, err := b.connView(h); err == nil {
			conns++
			channels += len(cv.sessions)
		}
	}
	listeners := []any{}
	if a := b.Addr(); a != nil {
		listeners = append(listeners, map[string]any{"protocol": "amqp", "address": a.String()})
	}
	if a := b.HTTPAddr(); a != nil {
		listeners = append(listeners, map[string]any{"protocol": "http", "address": a.String()})
	}
	ov := map[string]any{
		"product_name": "Warren", "product_version": Version, "management_version": Version,
		"user": u.name, "vhosts": len(names), "listeners": listeners,
		"object_totals": map[string]any{"connections": conns, "channels": channels, "exchanges": sum.exchanges,
			"queues": sum.queues, "consumers": sum.consumers},
		"queue_totals": apiQueueTotals(sum), "message_stats": apiRatesOf(r).vhosts(names...),
		"alarms": b.Alarms(),
	}
	if b.store != nil {
		st := map[string]any{"healthy": true}
		if err := b.store.Err(); err != nil {
			st = map[string]any{"error": err.Error(), "healthy": false}
		}
		ov["store"] = st
	}
	return apiOK(ov)
}

func (b *Broker) apiWhoami(_ *http.Request, u *apiUser) (apiReply, error) {
	return apiOK(map[string]any{"name": u.name, "tags": apiTags(u.tags)})
}

func (b *Broker) apiVhosts(r *http.Request, u *apiUser) (apiReply, error) {
	names, err := b.apiVhostsFor(r, u)
	if err != nil {
		return apiReply{}, err
	}
	views, err := b.vhostViews(names)
	if err != nil {
		return apiReply{}, err
	}
	totals := b.apiTotalsOf(views)
	rates := apiRatesOf(r)
	out := []any{}
	for _, n := range names {
		out = append(out, apiVhostJSON(n, totals[n], rates))
	}
	return apiOK(out)
}

func apiVhostJSON(name string, t *apiTotals, rates apiRateView) map[string]any {
	out := apiQueueTotals(t)
	out["name"] = name
	out["queues"] = t.queues
	out["exchanges"] = t.exchanges
	out["consumers"] = t.consumers
	out["message_stats"] = rates.vhosts(name)
	return out
}

func (b *Broker) apiVhost(r *http.Request, u *apiUser) (apiReply, error) {
	name, _, err := b.apiVhostOf(r, u)
	if err != nil {
		return apiReply{}, err
	}
	views, err := b.vhostViews([]string{name})
	if err != nil {
		return apiReply{}, err
	}
	return apiOK(apiVhostJSON(name, b.apiTotalsOf(views)[name], apiRatesOf(r)))
}

func apiTags(tags []string) []string {
	if tags == nil {
		return []string{}
	}
	return tags
}

// apiUserNames lists every user the broker knows, sorted.
func (b *Broker) apiUserNames() []string {
	names := make([]string, 0, len(b.auth.users))
	for n := range b.auth.users {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func (b *Broker) apiUserJSON(name string) map[string]any {
	u := b.auth.users[name]
	return map[string]any{"name": name, "tags": apiTags(b.userTags(name)), "has_password": u != nil && u.check != nil}
}

func (b *Broker) apiUsers(_ *http.Request, _ *apiUser) (apiReply, error) {
	out := []any{}
	for _, n := range b.apiUserNames() {
		out = append(out, b.apiUserJSON(n))
	}
	return apiOK(out)
}

func (b *Broker) apiUser(r *http.Request, _ *apiUser) (apiReply, error) {
	name := r.PathValue("user")
	if b.auth.users[name] == nil {
		return apiReply{}, apiErrorf(http.StatusNotFound, "user %q not found", name)
	}
	return apiOK(b.apiUserJSON(name))
}

// brokerPermissions are the definitions' permissions plus, as RabbitMQ creates it, guest's full access
// to "/" when the definitions do not list guest.
func (b *Broker) brokerPermissions() []definitions.Permission {
	var out []definitions.Permission
	guestListed := false
	if d := b.opts.Definitions; d != nil {
		out = append(out, d.Permissions...)
		guestListed = slices.ContainsFunc(d.Users, func(u definitions.User) bool { return u.Name == "guest" })
	}
	if !guestListed {
		out = append(out, definitions.Permission{User: "guest", Vhost: definitions.DefaultVhost, Configure: ".*", Write: ".*", Read: ".*"})
	}
	slices.SortStableFunc(out, func(a, c definitions.Permission) int {
		return cmp.Or(cmp.Compare(a.User, c.User), cmp.Compare(vhostOrRoot(a.Vhost), vhostOrRoot(c.Vhost)))
	})
	return out
}

func (b *Broker) apiPermissions(_ *http.Request, _ *apiUser) (apiReply, error) {
	out := []any{}
	for _, p := range b.brokerPermissions() {
		out = append(out, map[string]any{"user": p.User, "vhost": vhostOrRoot(p.Vhost), "configure": p.Configure,
			"write": p.Write, "read": p.Read})
	}
	return apiOK(out)
}
