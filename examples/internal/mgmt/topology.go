package mgmt

import (
	"context"
	"fmt"
	"net/url"
	"strings"
)

// QueueOptions are the properties of a declared queue.
type QueueOptions struct {
	Durable    bool
	Exclusive  bool
	AutoDelete bool
	Arguments  map[string]any // x-message-ttl, x-max-length, x-dead-letter-exchange…
}

// QueueInfo is what the node reports about a queue.
type QueueInfo struct {
	Name          string
	Durable       bool
	Exclusive     bool
	AutoDelete    bool
	MessageCount  uint64
	ConsumerCount uint64
}

// ExchangeOptions are the properties of a declared exchange.
type ExchangeOptions struct {
	Durable    bool
	AutoDelete bool
	Internal   bool
	Arguments  map[string]any
}

// QueueAddress is the AMQP address of a queue: /queues/{name}, percent-encoded.
func QueueAddress(name string) string { return "/queues/" + url.PathEscape(name) }

// ExchangeAddress is the target address that publishes to an exchange with a routing key; with an
// empty key it is /exchanges/{name} and each message's subject is its routing key.
func ExchangeAddress(name, key string) string {
	if key == "" {
		return "/exchanges/" + url.PathEscape(name)
	}
	return "/exchanges/" + url.PathEscape(name) + "/" + url.PathEscape(key)
}

// QueueName extracts the queue name from a /queues/{name} address, such as the address a dynamic
// receiver is given.
func QueueName(address string) (string, error) {
	rest, ok := strings.CutPrefix(address, "/queues/")
	if !ok || rest == "" || strings.Contains(rest, "/") {
		return "", fmt.Errorf("address %q is not /queues/{name}", address)
	}
	name, err := url.PathUnescape(rest)
	if err != nil {
		return "", fmt.Errorf("address %q: %w", address, err)
	}
	return name, nil
}

// DeclareQueue creates a queue, or checks that an existing one has the same properties (a conflict is
// a *StatusError with status 409).
func (c *Client) DeclareQueue(ctx context.Context, name string, opts QueueOptions) (QueueInfo, error) {
	body := map[string]any{
		"durable":     opts.Durable,
		"exclusive":   opts.Exclusive,
		"auto_delete": opts.AutoDelete,
		"arguments":   arguments(opts.Arguments),
	}
	resp, err := c.Request(ctx, "PUT", QueueAddress(name), body)
	if err != nil {
		return QueueInfo{}, err
	}
	return queueInfo(resp.Body), nil
}

// GetQueue reports a queue's properties and counts (status 404 when it does not exist).
func (c *Client) GetQueue(ctx context.Context, name string) (QueueInfo, error) {
	resp, err := c.Request(ctx, "GET", QueueAddress(name), nil)
	if err != nil {
		return QueueInfo{}, err
	}
	return queueInfo(resp.Body), nil
}

// PurgeQueue removes a queue's ready messages and returns how many there were.
func (c *Client) PurgeQueue(ctx context.Context, name string) (uint64, error) {
	resp, err := c.Request(ctx, "DELETE", QueueAddress(name)+"/messages", nil)
	if err != nil {
		return 0, err
	}
	n, _ := toUint64(field(resp.Body, "message_count"))
	return n, nil
}

// DeleteQueue deletes a queue (deleting a missing queue succeeds) and returns how many messages it held.
func (c *Client) DeleteQueue(ctx context.Context, name string) (uint64, error) {
	resp, err := c.Request(ctx, "DELETE", QueueAddress(name), nil)
	if err != nil {
		return 0, err
	}
	n, _ := toUint64(field(resp.Body, "message_count"))
	return n, nil
}

// DeclareExchange creates an exchange of a kind ("direct", "fanout", "topic", "headers"), or checks
// that an existing one matches.
func (c *Client) DeclareExchange(ctx context.Context, name, kind string, opts ExchangeOptions) error {
	body := map[string]any{
		"type":        kind,
		"durable":     opts.Durable,
		"auto_delete": opts.AutoDelete,
		"internal":    opts.Internal,
		"arguments":   arguments(opts.Arguments),
	}
	_, err := c.Request(ctx, "PUT", "/exchanges/"+url.PathEscape(name), body)
	return err
}

// DeleteExchange deletes an exchange and its bindings.
func (c *Client) DeleteExchange(ctx context.Context, name string) error {
	_, err := c.Request(ctx, "DELETE", "/exchanges/"+url.PathEscape(name), nil)
	return err
}

// Bind routes messages from exchange to queue for a binding key (a topic pattern for topic
// exchanges, ignored by fanout exchanges).
func (c *Client) Bind(ctx context.Context, exchange, queue, key string) error {
	body := map[string]any{
		"source":            exchange,
		"destination_queue": queue,
		"binding_key":       key,
		"arguments":         map[string]any{},
	}
	_, err := c.Request(ctx, "POST", "/bindings", body)
	return err
}

// Unbind removes a binding made by Bind (without arguments); removing a missing binding succeeds.
func (c *Client) Unbind(ctx context.Context, exchange, queue, key string) error {
	// The binding's location, as RabbitMQ 4 spells it: src=…;dstq=…;key=…;args= (no arguments).
	path := "/bindings/src=" + url.PathEscape(exchange) + ";dstq=" + url.PathEscape(queue) +
		";key=" + url.PathEscape(key) + ";args="
	_, err := c.Request(ctx, "DELETE", path, nil)
	return err
}

func arguments(a map[string]any) map[string]any {
	if a == nil {
		return map[string]any{}
	}
	return a
}

func queueInfo(body any) QueueInfo {
	var qi QueueInfo
	qi.Name, _ = field(body, "name").(string)
	qi.Durable, _ = field(body, "durable").(bool)
	qi.Exclusive, _ = field(body, "exclusive").(bool)
	qi.AutoDelete, _ = field(body, "auto_delete").(bool)
	qi.MessageCount, _ = toUint64(field(body, "message_count"))
	qi.ConsumerCount, _ = toUint64(field(body, "consumer_count"))
	return qi
}

// field reads a key from a decoded AMQP map (go-amqp decodes maps with string keys either way).
func field(body any, key string) any {
	switch m := body.(type) {
	case map[string]any:
		return m[key]
	case map[any]any:
		return m[key]
	}
	return nil
}

func toUint64(v any) (uint64, bool) {
	switch n := v.(type) {
	case uint64:
		return n, true
	case uint32:
		return uint64(n), true
	case uint16:
		return uint64(n), true
	case uint8:
		return uint64(n), true
	case int64:
		return uint64(max(n, 0)), true
	case int32:
		return uint64(max(n, 0)), true
	case int:
		return uint64(max(n, 0)), true
	}
	return 0, false
}
