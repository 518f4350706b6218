package actors

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/warren-mq/warren/protocol"
)

// Debug publishing: POST /api/exchanges/{vhost}/{exchange}/publish
//
//	{"routing_key": "k", "payload": "hello", "payload_encoding": "string"|"base64", "properties": {…}}
//
// builds an AMQP message (a data section with the payload) and publishes it through the vhost as a
// producer link would (DESIGN.md §4), then reports {"routed": true} once every queue it reached holds it,
// or {"routed": false} when it reached none. The exchange amq.default is the default exchange: the
// routing key names the queue. Properties take RabbitMQ's names (delivery_mode, priority, expiration,
// message_id, correlation_id, reply_to, content_type, content_encoding, user_id, type, timestamp,
// headers) and AMQP 1.0's (durable, ttl, subject, to, group_id, creation_time, application_properties).

// apiPublishWaiter collects the confirmations of one publish (messages.go's confirm protocol: the
// publish is outstanding once; each exchange adds its fan-out minus one, each queue that stores it
// subtracts one) and reports when nothing is outstanding.
type apiPublishWaiter struct {
	outstanding, queued int
	err                 *protocol.Error
	done                chan apiPublishOutcome
}

type apiPublishOutcome struct {
	queued int
	err    *protocol.Error
}

func (p *apiPublishWaiter) Receive(ctx actor.Context) {
	m, ok := ctx.Message().(*confirmBatch)
	if !ok {
		return
	}
	for _, c := range m.items {
		p.outstanding += c.delta
		p.queued += c.queued
		if c.err != nil && p.err == nil {
			p.err = c.err
		}
	}
	if p.outstanding <= 0 {
		select {
		case p.done <- apiPublishOutcome{queued: p.queued, err: p.err}:
		default: // reported already
		}
		ctx.Stop(ctx.Self())
	}
}

func (b *Broker) apiPublish(r *http.Request, u *apiUser) (apiReply, error) {
	vname, vpid, err := b.apiVhostOf(r, u)
	if err != nil {
		return apiReply{}, err
	}
	body, err := apiDecodeBody(r)
	if err != nil {
		return apiReply{}, err
	}
	key, err := apiString(body, "routing_key", "")
	if err != nil {
		return apiReply{}, err
	}
	payload, err := apiPayload(body)
	if err != nil {
		return apiReply{}, err
	}
	raw, err := apiBuildMessage(body, payload)
	if err != nil {
		return apiReply{}, err
	}
	var pm protocol.Message
	if err := protocol.ParseMessage(raw, &pm); err != nil {
		return apiReply{}, apiErrorf(http.StatusInternalServerError, "the message does not parse back: %v", err)
	}
	name := r.PathValue("name")
	v, err := b.vhostView(vname)
	if err != nil {
		return apiReply{}, err
	}
	if _, ok := v.exchange(apiExchangeName(name)); !ok {
		return apiReply{}, apiErrorf(http.StatusNotFound, "exchange %q not found in virtual host %q", name, vname)
	}
	// Publishing needs write on the exchange (RabbitMQ: basic.publish as the user), routed or not.
	if perr := b.auth.allowed(u.name, vname, permWrite, "exchange", apiExchangeName(name)); perr != nil {
		return apiReply{}, apiErrorf(http.StatusForbidden, "%s", perr.Description)
	}
	var addr string
	if apiExchangeName(name) == "" {
		if _, ok := v.queue(key); !ok {
			return apiOK(map[string]any{"routed": false}) // the default exchange routes by queue name
		}
		addr = "/queues/" + url.PathEscape(key)
	} else {
		addr = "/exchanges/" + url.PathEscape(name) + "/" + url.PathEscape(key)
	}

	w := &apiPublishWaiter{outstanding: 1, done: make(chan apiPublishOutcome, 1)}
	pid := b.system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return w }))
	msg := newMessage(raw, &pm, "", "", time.Now(), nil)
	b.system.Root.Send(vpid, &publishTo{address: addr, user: u.name, item: publish{msg: msg, ref: publishRef{link: pid, seq: 1}}})
	timer := time.NewTimer(apiAskTimeout)
	defer timer.Stop()
	select {
	case out := <-w.done:
		if out.err != nil {
			switch out.err.Condition {
			case protocol.ErrNotFound:
				return apiReply{}, apiErrorf(http.StatusNotFound, "%s", out.err.Description)
			case protocol.ErrNotAllowed, protocol.ErrUnauthorizedAccess:
				return apiReply{}, apiErrorf(http.StatusForbidden, "%s", out.err.Description)
			}
			return apiOK(map[string]any{"routed": out.queued > 0, "rejected": true, "reason": out.err.Description})
		}
		return apiOK(map[string]any{"routed": out.queued > 0})
	case <-timer.C:
		b.system.Root.Stop(pid)
		return apiReply{}, apiErrorf(http.StatusGatewayTimeout, "the message was not confirmed within %s", apiAskTimeout)
	}
}

// apiPayload decodes the payload by its payload_encoding.
func apiPayload(body map[string]any) ([]byte, error) {
	p, err := apiString(body, "payload", "")
	if err != nil {
		return nil, err
	}
	enc, err := apiString(body, "payload_encoding", "string")
	if err != nil {
		return nil, err
	}
	switch enc {
	case "string":
		return []byte(p), nil
	case "base64":
		data, err := base64.StdEncoding.DecodeString(p)
		if err != nil {
			return nil, apiErrorf(http.StatusBadRequest, "payload is not valid base64: %v", err)
		}
		return data, nil
	}
	return nil, apiErrorf(http.StatusBadRequest, `payload_encoding must be "string" or "base64", not %q`, enc)
}

// apiBuildMessage encodes header, properties, application-properties and one data section (spec 3.2).
func apiBuildMessage(body map[string]any, payload []byte) ([]byte, error) {
	props := map[string]any{}
	if raw, ok := body["properties"]; ok && raw != nil {
		if props, ok = raw.(map[string]any); !ok {
			return nil, apiErrorf(http.StatusBadRequest, "properties must be a JSON object")
		}
	}
	h := protocol.Header{Priority: 4}
	var p protocol.Properties
	var app protocol.Map
	for _, k := range slices.Sorted(maps.Keys(props)) {
		if err := apiSetProperty(&h, &p, &app, k, props[k]); err != nil {
			return nil, err
		}
	}
	var raw []byte
	var err error
	if h != (protocol.Header{Priority: 4}) {
		if raw, err = h.Append(raw); err != nil {
			return nil, apiErrorf(http.StatusBadRequest, "header: %v", err)
		}
	}
	if raw, err = p.Append(raw); err != nil {
		return nil, apiErrorf(http.StatusBadRequest, "properties: %v", err)
	}
	if len(app) > 0 {
		if raw, err = protocol.AppendApplicationProperties(raw, app); err != nil {
			return nil, apiErrorf(http.StatusBadRequest, "headers: %v", err)
		}
	}
	return protocol.AppendDataSection(raw, payload), nil
}

func apiSetProperty(h *protocol.Header, p *protocol.Properties, app *protocol.Map, key string, v any) error {
	str := func() (string, error) {
		switch x := v.(type) {
		case string:
			return x, nil
		case json.Number:
			return x.String(), nil
		}
		return "", apiErrorf(http.StatusBadRequest, "property %s must be a string", key)
	}
	num := func(max uint64) (uint64, error) {
		s, err := str()
		if err == nil {
			var n uint64
			if n, err = strconv.ParseUint(s, 10, 64); err == nil && n <= max {
				return n, nil
			}
		}
		return 0, apiErrorf(http.StatusBadRequest, "property %s must be an integer from 0 to %d", key, max)
	}
	var err error
	var s string
	var n uint64
	switch key {
	case "delivery_mode":
		if n, err = num(2); err == nil {
			h.Durable = n == 2
		}
	case "durable":
		d, ok := v.(bool)
		if !ok {
			return apiErrorf(http.StatusBadRequest, "property durable must be true or false")
		}
		h.Durable = d
	case "priority":
		if n, err = num(255); err == nil {
			h.Priority = uint8(n)
		}
	case "expiration", "ttl": // milliseconds (RabbitMQ's expiration is a string of them)
		if n, err = num(1<<32 - 1); err == nil {
			h.TTL = protocol.Some(uint32(n))
		}
	case "message_id", "correlation_id":
		id := any(nil)
		if num, isNum := v.(json.Number); isNum {
			if u, perr := strconv.ParseUint(num.String(), 10, 64); perr == nil {
				id = u // a ulong message-id (spec 3.2.11)
			}
		}
		if id == nil {
			if s, err = str(); err != nil {
				return err
			}
			id = s
		}
		if key == "message_id" {
			p.MessageID = id
		} else {
			p.CorrelationID = id
		}
	case "reply_to", "subject", "type", "to", "group_id", "content_type", "content_encoding", "user_id":
		if s, err = str(); err != nil {
			return err
		}
		switch key {
		case "reply_to":
			p.ReplyTo = protocol.Some(s)
		case "subject", "type":
			p.Subject = protocol.Some(s)
		case "to":
			p.To = protocol.Some(s)
		case "group_id":
			p.GroupID = protocol.Some(s)
		case "content_type":
			p.ContentType = protocol.Symbol(s)
		case "content_encoding":
			p.ContentEncoding = protocol.Symbol(s)
		case "user_id":
			p.UserID = []byte(s)
		}
	case "timestamp": // seconds, as AMQP 0-9-1
		if n, err = num(1 << 40); err == nil {
			p.CreationTime = protocol.Some(time.Unix(int64(n), 0).UTC())
		}
	case "creation_time": // milliseconds, as AMQP 1.0
		if n, err = num(1 << 50); err == nil {
			p.CreationTime = protocol.Some(time.UnixMilli(int64(n)).UTC())
		}
	case "headers", "application_properties":
		return apiAppProperties(app, key, v)
	default:
		return apiErrorf(http.StatusBadRequest, "unknown property %q", key)
	}
	return err
}

// apiAppProperties fills application-properties, whose values are simple types (spec 3.2.5: no maps,
// lists or arrays).
func apiAppProperties(app *protocol.Map, key string, v any) error {
	obj, ok := v.(map[string]any)
	if !ok {
		return apiErrorf(http.StatusBadRequest, "property %s must be a JSON object", key)
	}
	conv, err := apiFromJSON(obj)
	if err != nil {
		return apiErrorf(http.StatusBadRequest, "property %s %v", key, err)
	}
	for _, e := range conv.(protocol.Map) {
		switch e.Value.(type) {
		case protocol.Map, []any:
			return apiErrorf(http.StatusBadRequest, "property %s %q: application properties hold simple values only", key, e.Key)
		}
		app.Set(e.Key, e.Value)
	}
	return nil
}

// apiRenderPayload renders a body for JSON: a data section's bytes as a string when they are UTF-8
// (encoding "auto") else base64; an amqp-value or amqp-sequence as its JSON rendering.
func apiRenderPayload(m *protocol.Message, encoding string, truncate int) (payload string, enc string, size int) {
	var data []byte
	isData := true
	var values []any
	if m.BodySpan.Present() {
		var d protocol.Decoder
		d.Reset(m.Raw[m.BodySpan.Start:m.BodySpan.End])
		for d.Len() > 0 {
			v, err := d.ReadAny()
			if err != nil {
				break
			}
			desc, ok := v.(*protocol.Described)
			if !ok {
				break
			}
			if b, isBytes := desc.Value.([]byte); isBytes && (desc.Descriptor == protocol.DescriptorData || desc.Descriptor == protocol.Symbol("amqp:data:binary")) {
				data = append(data, b...)
				continue
			}
			isData = false
			values = append(values, apiToJSON(desc.Value))
		}
	}
	if !isData {
		var v any = values
		if len(values) == 1 {
			v = values[0]
		}
		if s, ok := v.(string); ok {
			data = []byte(s)
		} else {
			data, _ = json.Marshal(v)
		}
	}
	size = len(data)
	if truncate > 0 && len(data) > truncate {
		data = data[:truncate]
	}
	if encoding != "base64" && utf8.Valid(data) {
		return string(data), "string", size
	}
	return base64.StdEncoding.EncodeToString(data), "base64", size
}
