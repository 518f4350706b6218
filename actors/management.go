package actors

import (
	"fmt"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/warren-mq/warren/protocol"
)

// The /management node: RabbitMQ 4's HTTP-over-AMQP management, so code written for RabbitMQ's AMQP 1.0
// clients declares and inspects topology here unchanged. A client attaches a sender (target
// /management) and a receiver (source /management) with the same link name; each request message
// carries message-id, to = the path, subject = the method, reply-to = "$me" and an amqp-value body; the
// response goes out on the paired receiver's link with subject = the status code, correlation-id = the
// request's message-id, application-property http:response = "1.1" and an amqp-value body.
//
// Pairing (AMQP Link Pair CS01 §2.1, as RabbitMQ 4 checks it): both attaches carry the link property
// paired = true, which the broker's attaches echo; an attach without it is refused with
// amqp:invalid-field. Responses are sent settled.

const managementAddress = "/management"

// mgmtPair registers the broker→client half of a pair with its session, by link name.
type mgmtPair struct {
	name string
	link *actor.PID
}

// mgmtReply carries a response from the request link to its session, which passes it to the pair.
type mgmtReply struct {
	name string
	msg  *message
}

type mgmtDeliver struct{ msg *message }

// --- the request side (client → broker) ---------------------------------------------------------------

// pairedProperties are the link properties of both halves of a pair, echoed in the broker's attaches.
var pairedProperties = protocol.Map{{Key: protocol.Symbol("paired"), Value: true}}

// checkPaired refuses a /management attach without the link property paired = true.
func checkPaired(a *protocol.Attach) *protocol.Error {
	if v, ok := a.Properties.Get(protocol.Symbol("paired")); ok && v == true {
		return nil
	}
	return &protocol.Error{Condition: protocol.ErrInvalidField,
		Description: "a /management link needs the link property 'paired' set to true (AMQP link pair)"}
}

func (l *receiverLink) startManagement(ctx actor.Context) {
	if err := checkPaired(l.peer); err != nil {
		l.refuse(ctx, protocol.RoleReceiver, err)
		return
	}
	l.mgmt = true
	l.target = &targetResolved{}
	l.labels = l.h.b.met.ExchangeLabels(l.h.vname, "")
	rcv := protocol.RcvFirst
	if l.rcvSecond {
		rcv = protocol.RcvSecond
	}
	l.writeAttach(&protocol.Attach{
		Name: l.name, Handle: l.handle, Role: protocol.RoleReceiver,
		SndSettleMode: l.peer.SndSettleMode, RcvSettleMode: rcv,
		Source: l.peer.Source, Target: l.peer.Target, MaxMessageSize: l.maxSize,
		Properties: pairedProperties,
	})
	l.grantCredit(ctx)
}

// managementRequest handles one complete request message.
func (l *receiverLink) managementRequest(ctx actor.Context, a *assembly) {
	if !a.settled {
		l.settle(a, accepted) // the request is taken; its answer is the response message
	}
	var pm protocol.Message
	if err := protocol.ParseMessage(a.buf, &pm); err != nil {
		l.log.Info("management request is not a valid message", "err", err)
		return
	}
	id := pm.Properties.MessageID
	body, err := amqpValueBody(&pm)
	if err != nil || !pm.Properties.To.Set || !pm.Properties.Subject.Set {
		l.managementRespond(ctx, id, &mgmtResponse{status: 400, body: "a request needs to (the path), subject (the method) and an amqp-value body"})
		return
	}
	req := &mgmtRequest{method: pm.Properties.Subject.V, path: pm.Properties.To.V, body: body, user: l.h.user, conn: l.h.pid}
	f := ctx.RequestFuture(l.h.vhost, req, defaultAskTimeout)
	ctx.ReenterAfter(f, func(res any, err error) {
		r, ok := res.(*mgmtResponse)
		if err != nil || !ok {
			r = &mgmtResponse{status: 500, body: fmt.Sprintf("no answer from the virtual host: %v", err)}
		}
		l.managementRespond(ctx, id, r)
	})
}

func (l *receiverLink) managementRespond(ctx actor.Context, id any, r *mgmtResponse) {
	msg, err := managementResponse(id, r)
	if err != nil {
		l.log.Error("encoding a management response", "err", err)
		return
	}
	ctx.Send(l.session, &mgmtReply{name: l.name, msg: msg})
}

func managementResponse(id any, r *mgmtResponse) (*message, error) {
	p := protocol.Properties{CorrelationID: id, Subject: protocol.Some(strconv.Itoa(r.status))}
	b, err := p.Append(nil)
	if err != nil {
		return nil, err
	}
	if b, err = protocol.AppendApplicationProperties(b, protocol.Map{{Key: "http:response", Value: "1.1"}}); err != nil {
		return nil, err
	}
	if b, err = protocol.AppendAmqpValueSection(b, r.body); err != nil {
		return nil, err
	}
	var pm protocol.Message
	if err := protocol.ParseMessage(b, &pm); err != nil {
		return nil, err
	}
	msg := newMessage(b, &pm, "", "", time.Now(), nil)
	msg.annotations = nil // a response is not routed: no x-exchange / x-routing-key
	return msg, nil
}

// amqpValueBody decodes a message's amqp-value body (nil when the body is absent or null).
func amqpValueBody(m *protocol.Message) (any, error) {
	if !m.BodySpan.Present() {
		return nil, nil
	}
	var d protocol.Decoder
	d.Reset(m.Raw[m.BodySpan.Start:m.BodySpan.End])
	v, err := d.ReadAny()
	if err != nil {
		return nil, err
	}
	desc, ok := v.(*protocol.Described)
	if !ok || (desc.Descriptor != uint64(0x77) && desc.Descriptor != protocol.Symbol("amqp:amqp-value:*")) {
		return nil, fmt.Errorf("the body is not an amqp-value section")
	}
	return desc.Value, nil
}

// --- the response side (broker → client) ---------------------------------------------------------------

func (l *senderLink) startManagement(ctx actor.Context) {
	if err := checkPaired(l.peer); err != nil {
		l.refuse(ctx, protocol.RoleSender, err)
		return
	}
	l.mgmt = true
	l.consuming = true
	l.pendingAddress = managementAddress
	l.presettled = true // responses are sent settled, as RabbitMQ's management node does
	ctx.Send(l.session, &mgmtPair{name: l.name, link: ctx.Self()})
	src := &protocol.Source{}
	if l.peer.Source != nil {
		s := *l.peer.Source
		src = &s
		src.Filter = nil
	}
	src.Address = protocol.Some(managementAddress)
	l.writeAttach(&protocol.Attach{
		Name: l.name, Handle: l.handle, Role: protocol.RoleSender,
		SndSettleMode: protocol.SndSettled, RcvSettleMode: l.peer.RcvSettleMode,
		Source: src, Target: l.peer.Target,
		InitialDeliveryCount: protocol.Some(l.deliveryCount),
		MaxMessageSize:       l.h.b.opts.Limits.MaxMessageSize,
		Properties:           pairedProperties,
	})
}

// flushManagement sends waiting responses while there is credit.
func (l *senderLink) flushManagement(ctx actor.Context) {
	n := min(uint32(len(l.mgmtOut)), l.credit)
	if n == 0 {
		return
	}
	items := make([]delivery, n)
	for i := range items {
		items[i] = delivery{msg: l.mgmtOut[i], firstAcquirer: true}
	}
	l.mgmtOut = l.mgmtOut[n:]
	l.deliveryCount += n
	l.credit -= n
	ctx.Send(l.session, &outTransfers{handle: l.handle, link: ctx.Self(), settled: true, items: items})
}
