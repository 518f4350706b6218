package actors

import (
	"net/http"
	"strconv"
	"time"

	"github.com/warren-mq/warren/protocol"
)

// Debug get: POST /api/queues/{vhost}/{queue}/get
//
//	{"count": 1, "ackmode": "ack_requeue_true", "encoding": "auto"|"base64", "truncate": 0}
//
// ack_requeue_true and reject_requeue_true look at the first count ready messages and leave them
// where they are; ack_requeue_false takes them off the queue for good (as a consumer that accepts them,
// DESIGN.md §4). reject_requeue_false would dead-letter them and is refused. Messages awaiting
// settlement by a consumer are not ready and are not shown.

const apiMaxGet = 10000

type apiGotMessage struct {
	msg           *message
	deliveryCount uint32
	redelivered   bool
}

type apiGetResult struct {
	got       []apiGotMessage
	remaining int
	expired   bool // the head had expired: the queue's own expiry must run first
}

func (b *Broker) apiGet(r *http.Request, u *apiUser) (apiReply, error) {
	v, q, _, err := b.apiQueueOf(r, u)
	if err != nil {
		return apiReply{}, err
	}
	// Getting messages is consuming (RabbitMQ's basic.get as the user): it needs read on the queue.
	if perr := b.auth.allowed(u.name, v.name, permRead, "queue", q.name); perr != nil {
		return apiReply{}, apiErrorf(http.StatusForbidden, "%s", perr.Description)
	}
	body, err := apiDecodeBody(r)
	if err != nil {
		return apiReply{}, err
	}
	count, err := apiInt(body, "count", 1)
	if err != nil {
		return apiReply{}, err
	}
	if count < 1 || count > apiMaxGet {
		return apiReply{}, apiErrorf(http.StatusBadRequest, "count must be from 1 to %d", apiMaxGet)
	}
	mode, err := apiString(body, "ackmode", "ack_requeue_true")
	if err != nil {
		return apiReply{}, err
	}
	var take bool
	switch mode {
	case "ack_requeue_true", "reject_requeue_true":
	case "ack_requeue_false":
		take = true
	case "reject_requeue_false":
		return apiReply{}, apiErrorf(http.StatusBadRequest, "ackmode reject_requeue_false (dead-lettering) is not supported; use ack_requeue_false")
	default:
		return apiReply{}, apiErrorf(http.StatusBadRequest, "ackmode must be ack_requeue_true, reject_requeue_true or ack_requeue_false, not %q", mode)
	}
	encoding, err := apiString(body, "encoding", "auto")
	if err != nil {
		return apiReply{}, err
	}
	if encoding != "auto" && encoding != "base64" {
		return apiReply{}, apiErrorf(http.StatusBadRequest, `encoding must be "auto" or "base64", not %q`, encoding)
	}
	truncate, err := apiInt(body, "truncate", 0)
	if err != nil {
		return apiReply{}, err
	}

	var got []apiGotMessage
	remaining := 0
	// An expired message at the head is the queue's to dead-letter (queue.expireHead): when we meet
	// one, we let the queue's own expiry run and look again. Each round takes at least one message or
	// clears at least one expired head, so count+1 rounds suffice.
	for round := int64(0); round <= count && int64(len(got)) < count; round++ {
		want := int(count) - len(got)
		res, err := inspectActor(b, q.pid, func(qa *queue) apiGetResult { return apiGetFrom(qa, want, take) })
		if err != nil {
			return apiReply{}, apiErrorf(http.StatusNotFound, "queue %q did not answer: %v", q.name, err)
		}
		got = append(got, res.got...)
		remaining = res.remaining
		if !res.expired {
			break
		}
		b.system.Root.Send(q.pid, &ttlTick{})
	}
	out := make([]any, 0, len(got))
	for i, g := range got {
		out = append(out, apiMessageJSON(g, remaining+len(got)-i-1, encoding, int(truncate)))
	}
	return apiOK(out)
}

// apiGetFrom runs on the queue's goroutine: it takes (or, when !take, looks at) up to n ready messages
// from the head.
func apiGetFrom(q *queue, n int, take bool) apiGetResult {
	var res apiGetResult
	now := nowMillis()
	if !take {
		for _, e := range q.ready[q.head:] {
			if len(res.got) == n {
				break
			}
			if e.expiresAt != 0 && e.expiresAt <= now {
				continue
			}
			res.got = append(res.got, apiGotMessage{msg: e.msg, deliveryCount: e.deliveryCount, redelivered: e.acquired})
		}
		res.remaining = q.length() - len(res.got)
		return res
	}
	for len(res.got) < n && q.length() > 0 {
		e := q.ready[q.head]
		if e.expiresAt != 0 && e.expiresAt <= now {
			res.expired = true
			break
		}
		q.popFront()
		res.got = append(res.got, apiGotMessage{msg: e.msg, deliveryCount: e.deliveryCount, redelivered: e.acquired})
	}
	if len(res.got) > 0 {
		q.lastUsed = time.Now()
	}
	res.remaining = q.length()
	return res
}

// apiMessageJSON renders one message as RabbitMQ's management API does, with AMQP 1.0's fields added.
func apiMessageJSON(g apiGotMessage, remaining int, encoding string, truncate int) map[string]any {
	pm := g.msg.parsed()
	m := &pm
	payload, enc, size := apiRenderPayload(m, encoding, truncate)
	props := map[string]any{"delivery_mode": 1, "priority": m.Header.Priority}
	if m.Header.Durable {
		props["delivery_mode"] = 2
	}
	if m.Header.TTL.Set {
		props["expiration"] = strconv.FormatUint(uint64(m.Header.TTL.V), 10)
	}
	p := &m.Properties
	set := func(key string, v any) {
		if v != nil {
			props[key] = apiToJSON(v)
		}
	}
	set("message_id", p.MessageID)
	set("correlation_id", p.CorrelationID)
	for key, o := range map[string]protocol.Opt[string]{"reply_to": p.ReplyTo, "subject": p.Subject, "to": p.To, "group_id": p.GroupID} {
		if o.Set {
			props[key] = o.V
		}
	}
	if p.ContentType != "" {
		props["content_type"] = string(p.ContentType)
	}
	if p.ContentEncoding != "" {
		props["content_encoding"] = string(p.ContentEncoding)
	}
	if p.UserID != nil {
		props["user_id"] = string(p.UserID)
	}
	if p.CreationTime.Set {
		props["timestamp"] = p.CreationTime.V.Unix()
	}
	if len(m.ApplicationProperties) > 0 {
		props["headers"] = apiToJSON(m.ApplicationProperties)
	}
	out := map[string]any{
		"payload": payload, "payload_encoding": enc, "payload_bytes": size,
		"redelivered": g.redelivered, "delivery_count": g.deliveryCount,
		"exchange": g.msg.exchange, "routing_key": g.msg.routingKey, "message_count": remaining,
		"properties": props,
	}
	if len(m.MessageAnnotations) > 0 {
		out["message_annotations"] = apiToJSON(m.MessageAnnotations)
	}
	return out
}
