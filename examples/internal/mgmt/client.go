// Package mgmt is a tiny client for the "/management" node of RabbitMQ 4's AMQP 1.0 management
// protocol (HTTP over AMQP), which Warren implements: the examples use it to declare queues,
// exchanges and bindings, and the load tool to declare its queues.
//
// A client attaches a sender (target /management) and a receiver (source /management) with the same
// link name, both settled. Each request is a message with properties to = the path (for example
// /queues/orders), subject = the HTTP method, reply-to = "$me" and an amqp-value body; the answer
// arrives on the receiver with subject = the status code and correlation-id = the request's message-id.
package mgmt

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/Azure/go-amqp"
)

// Address is the management node's address.
const Address = "/management"

// linkName names both links of the pair: RabbitMQ 4 pairs them by name (and the "paired" property).
const linkName = "management-link-pair"

// Client sends management requests over one link pair. It is safe for concurrent use; requests are
// answered one at a time.
type Client struct {
	mu  sync.Mutex
	snd *amqp.Sender
	rcv *amqp.Receiver
	seq uint64
}

// Response is a management node's answer.
type Response struct {
	Status int // an HTTP status code: 200, 201, 204, 400, 404, 409…
	Body   any // the decoded amqp-value body: a map, a list, a string (an error text) or nil
}

// StatusError is returned for a response whose status is not 2xx.
type StatusError struct {
	Method, Path string
	Status       int
	Message      string // the error text the node sent, if any
}

func (e *StatusError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("management %s %s: status %d", e.Method, e.Path, e.Status)
	}
	return fmt.Sprintf("management %s %s: status %d: %s", e.Method, e.Path, e.Status, e.Message)
}

// Status returns the status code of a *StatusError in err's chain, or 0.
func Status(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Status
	}
	return 0
}

// New attaches the management link pair on s.
func New(ctx context.Context, s *amqp.Session) (*Client, error) {
	props := map[string]any{"paired": true}
	snd, err := s.NewSender(ctx, Address, &amqp.SenderOptions{
		Name:           linkName,
		SettlementMode: amqp.SenderSettleModeSettled.Ptr(),
		Properties:     props,
	})
	if err != nil {
		return nil, fmt.Errorf("attaching the management sender: %w", err)
	}
	rcv, err := s.NewReceiver(ctx, Address, &amqp.ReceiverOptions{
		Name:                      linkName,
		RequestedSenderSettleMode: amqp.SenderSettleModeSettled.Ptr(),
		Properties:                props,
	})
	if err != nil {
		_ = snd.Close(ctx)
		return nil, fmt.Errorf("attaching the management receiver: %w", err)
	}
	return &Client{snd: snd, rcv: rcv}, nil
}

// Close detaches both links.
func (c *Client) Close(ctx context.Context) error {
	return errors.Join(c.snd.Close(ctx), c.rcv.Close(ctx))
}

// Request sends one request and waits for its response. A non-2xx status is returned as a
// *StatusError together with the response.
func (c *Client) Request(ctx context.Context, method, path string, body any) (*Response, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	id := "req-" + strconv.FormatUint(c.seq, 10)
	replyTo := "$me"
	msg := &amqp.Message{
		Properties: &amqp.MessageProperties{MessageID: id, To: &path, Subject: &method, ReplyTo: &replyTo},
		Value:      body,
	}
	if err := c.snd.Send(ctx, msg, nil); err != nil {
		return nil, fmt.Errorf("management %s %s: sending: %w", method, path, err)
	}
	for {
		m, err := c.rcv.Receive(ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("management %s %s: waiting for the response: %w", method, path, err)
		}
		if m.Properties == nil || m.Properties.CorrelationID != id {
			continue // the late answer to a request whose caller gave up
		}
		if m.Properties.Subject == nil {
			return nil, fmt.Errorf("management %s %s: the response has no status (subject)", method, path)
		}
		status, err := strconv.Atoi(*m.Properties.Subject)
		if err != nil {
			return nil, fmt.Errorf("management %s %s: status %q is not a number", method, path, *m.Properties.Subject)
		}
		resp := &Response{Status: status, Body: m.Value}
		if status < 200 || status > 299 {
			text, _ := m.Value.(string)
			return resp, &StatusError{Method: method, Path: path, Status: status, Message: text}
		}
		return resp, nil
	}
}
