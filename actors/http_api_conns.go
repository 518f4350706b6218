package actors

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/warren-mq/warren/protocol"
)

// Connections, their sessions (RabbitMQ's channels) and links, and consumers: read from the
// connection, session and link actors with *inspect. A connection is named by its id ("conn-7"), as in
// Warren's logs. Who sees which connection: apiUser.seesConnection.

func apiConnJSON(h *connHandle, cv *apiConnView) map[string]any {
	state := "running"
	if cv.closed || h.closing.Load() {
		state = "closing"
	}
	out := map[string]any{
		"name": h.id, "peer": h.peer, "user": h.user, "vhost": h.vname, "protocol": "AMQP 1.0", "state": state,
		"sessions": len(cv.sessions), "channels": len(cv.sessions),
		"channel_max": h.channelMax, "frame_max": h.peerMaxFrame,
	}
	if h.remote != nil {
		out["container"] = h.remote.ContainerID
		out["hostname"] = h.remote.Hostname
	}
	return out
}

func (b *Broker) apiConnections(r *http.Request, u *apiUser) (apiReply, error) {
	out := []any{}
	for _, h := range b.apiConns() {
		if !u.seesConnection(h) {
			continue
		}
		cv, err := b.connView(h)
		if err != nil {
			continue // closed meanwhile
		}
		out = append(out, apiConnJSON(h, cv))
	}
	return apiOK(out)
}

// apiConnOf resolves {name} to a live connection the user may see.
func (b *Broker) apiConnOf(r *http.Request, u *apiUser) (*connHandle, *apiConnView, error) {
	h := b.apiConnByName(r.PathValue("name"))
	if h == nil || !u.seesConnection(h) {
		return nil, nil, apiErrorf(http.StatusNotFound, "connection %q not found", r.PathValue("name"))
	}
	cv, err := b.connView(h)
	if err != nil {
		return nil, nil, apiErrorf(http.StatusNotFound, "connection %q is closed", r.PathValue("name"))
	}
	return h, cv, nil
}

func (b *Broker) apiConnection(r *http.Request, u *apiUser) (apiReply, error) {
	h, cv, err := b.apiConnOf(r, u)
	if err != nil {
		return apiReply{}, err
	}
	return apiOK(apiConnJSON(h, cv))
}

// apiCloseConnection closes a connection with amqp:connection:forced (spec 2.8.15); the X-Reason
// header, if any, becomes the error's description.
func (b *Broker) apiCloseConnection(r *http.Request, u *apiUser) (apiReply, error) {
	h, _, err := b.apiConnOf(r, u)
	if err != nil {
		return apiReply{}, err
	}
	if !u.admin && h.user != u.name {
		return apiReply{}, apiErrorf(http.StatusForbidden, "user %q may close its own connections only", u.name)
	}
	reason := r.Header.Get("X-Reason")
	if reason == "" {
		reason = "closed via the management API by " + u.name
	}
	h.forceClose(reason)
	return apiNoContent()
}

func apiLinkJSON(ref apiLinkRef, lv *apiLinkView) map[string]any {
	role := "sender"
	if ref.role == protocol.RoleReceiver {
		role = "receiver"
	}
	out := map[string]any{"handle": ref.handle, "name": ref.name, "role": role}
	if lv == nil {
		return out
	}
	out["management"] = lv.management
	out["address"] = lv.address
	out["credit"] = lv.credit
	out["delivery_count"] = lv.deliveryCount
	if lv.consumer {
		out["kind"] = "consumer"
		out["queue"] = lv.queue
		out["ack_required"] = !lv.presettled
	} else {
		out["kind"] = "publisher"
		out["unconfirmed"] = lv.unconfirmed
		out["rcv_settle_mode"] = "first"
		if lv.rcvSecond {
			out["rcv_settle_mode"] = "second"
		}
	}
	return out
}

// apiSessions: GET /api/connections/{name}/sessions (or …/channels) lists the connection's sessions
// with their windows (spec 2.5.6) and links.
func (b *Broker) apiSessions(r *http.Request, u *apiUser) (apiReply, error) {
	h, cv, err := b.apiConnOf(r, u)
	if err != nil {
		return apiReply{}, err
	}
	return apiOK(b.sessionsJSON(h, cv))
}

// apiChannels: GET /api/channels[/{vhost}] lists the sessions of every connection the user sees.
func (b *Broker) apiChannels(r *http.Request, u *apiUser) (apiReply, error) {
	vhosts, err := b.apiVhostsFor(r, u)
	if err != nil {
		return apiReply{}, err
	}
	out := []any{}
	for _, h := range b.apiConns() {
		if !slices.Contains(vhosts, h.vname) || !u.seesConnection(h) {
			continue
		}
		cv, err := b.connView(h)
		if err != nil {
			continue // closed meanwhile
		}
		out = append(out, b.sessionsJSON(h, cv)...)
	}
	return apiOK(out)
}

func (b *Broker) sessionsJSON(h *connHandle, cv *apiConnView) []any {
	out := []any{}
	for _, s := range cv.sessions {
		sv, err := b.sessionView(s.pid)
		if err != nil {
			continue // ended meanwhile
		}
		links := []any{}
		for _, l := range sv.links {
			lv, err := b.linkView(l.pid)
			if err != nil {
				continue
			}
			links = append(links, apiLinkJSON(l, lv))
		}
		out = append(out, map[string]any{
			"name": fmt.Sprintf("%s (%d)", h.id, s.channel), "connection": h.id, "user": h.user, "vhost": h.vname,
			"channel": s.channel, "number": s.channel, "out_channel": s.outChannel,
			"next_incoming_id": sv.nextIncomingID, "incoming_window": sv.incomingWindow,
			"next_outgoing_id": sv.nextOutgoingID, "remote_incoming_window": sv.remoteIncomingWindow,
			"unsettled": sv.unsettled, "pending": sv.pending, "links": links,
			"connection_details": map[string]any{"name": h.id, "peer": h.peer},
		})
	}
	return out
}

// apiConsumers: GET /api/consumers[/{vhost}] lists the links consuming from queues.
func (b *Broker) apiConsumers(r *http.Request, u *apiUser) (apiReply, error) {
	vhosts, err := b.apiVhostsFor(r, u)
	if err != nil {
		return apiReply{}, err
	}
	out := []any{}
	for _, h := range b.apiConns() {
		if !slices.Contains(vhosts, h.vname) {
			continue
		}
		cv, err := b.connView(h)
		if err != nil {
			continue
		}
		for _, s := range cv.sessions {
			sv, err := b.sessionView(s.pid)
			if err != nil {
				continue
			}
			for _, l := range sv.links {
				if l.role != protocol.RoleReceiver {
					continue // the peer sends: a producer
				}
				lv, err := b.linkView(l.pid)
				if err != nil || lv == nil || !lv.consumer || lv.management || lv.queue == "" {
					continue
				}
				out = append(out, map[string]any{
					"consumer_tag": l.name, "queue": map[string]any{"name": lv.queue, "vhost": h.vname},
					"channel_details": map[string]any{"connection_name": h.id, "channel": s.channel, "peer": h.peer, "user": h.user},
					"ack_required":    !lv.presettled, "credit": lv.credit, "active": true,
				})
			}
		}
	}
	return apiOK(out)
}
