package actors

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/warren-mq/warren/protocol"
)

// address is a parsed AMQP address in RabbitMQ 4's v2 scheme (DESIGN.md §3).
type address struct {
	queue    string // /queues/{queue}, or a bare name
	exchange string // /exchanges/{exchange}[/{key}]
	key      string
	hasKey   bool
	isQueue  bool
	bare     bool // a bare name: the queue of that name, auto-created
}

func (a address) String() string {
	switch {
	case a.isQueue:
		return "/queues/" + url.PathEscape(a.queue)
	case a.hasKey:
		return "/exchanges/" + url.PathEscape(a.exchange) + "/" + url.PathEscape(a.key)
	}
	return "/exchanges/" + url.PathEscape(a.exchange)
}

func parseAddress(s string) (address, *protocol.Error) {
	bad := func(why string) (address, *protocol.Error) {
		return address{}, &protocol.Error{Condition: protocol.ErrInvalidField, Description: fmt.Sprintf("address %q: %s", s, why)}
	}
	if s == "" {
		return bad("empty")
	}
	if !strings.HasPrefix(s, "/") {
		return address{queue: s, isQueue: true, bare: true}, nil
	}
	parts := strings.Split(s[1:], "/")
	seg := func(i int) (string, error) { return url.PathUnescape(parts[i]) }
	switch {
	case parts[0] == "queues" && len(parts) == 2:
		q, err := seg(1)
		if err != nil || q == "" {
			return bad("the queue name must be a non-empty, percent-encoded path segment")
		}
		return address{queue: q, isQueue: true}, nil
	case parts[0] == "exchanges" && (len(parts) == 2 || len(parts) == 3):
		x, err := seg(1)
		if err != nil {
			return bad("the exchange name must be percent-encoded")
		}
		if x == "amq.default" {
			// As RabbitMQ: the default exchange is addressed as /queues/{queue}.
			return address{}, &protocol.Error{Condition: protocol.ErrNotAllowed,
				Description: "the default exchange cannot be addressed as /exchanges/amq.default; use /queues/{queue}"}
		}
		if x == "" {
			return bad("the exchange name is empty; publish to the default exchange with /queues/{queue}")
		}
		a := address{exchange: x}
		if len(parts) == 3 {
			k, err := seg(2)
			if err != nil {
				return bad("the routing key must be percent-encoded")
			}
			a.key, a.hasKey = k, true
		}
		return a, nil
	}
	return bad("not /queues/{queue}, /exchanges/{exchange}[/{routing-key}] or a bare queue name")
}
