package actors

import (
	"fmt"
	"math"

	"github.com/warren-mq/warren/protocol"
)

// queueSpec is a queue's declaration: its flags and the RabbitMQ queue arguments Warren implements.
type queueSpec struct {
	name                           string
	durable, exclusive, autoDelete bool
	args                           map[string]any

	messageTTL int64  // x-message-ttl in ms; -1 = none
	expires    int64  // x-expires in ms; 0 = never
	maxLength  int64  // x-max-length; -1 = none
	maxBytes   int64  // x-max-length-bytes; -1 = none
	overflow   string // x-overflow: drop-head (default), reject-publish, reject-publish-dlx
	dlx        string // x-dead-letter-exchange
	hasDLX     bool
	dlrk       string // x-dead-letter-routing-key
	hasDLRK    bool
}

// queueSpecFrom validates queue arguments as RabbitMQ does: a wrong type or range is
// amqp:precondition-failed naming the argument.
func queueSpecFrom(name string, durable, autoDelete, exclusive bool, args map[string]any) (queueSpec, *protocol.Error) {
	s := queueSpec{name: name, durable: durable, autoDelete: autoDelete, exclusive: exclusive, args: args,
		messageTTL: -1, maxLength: -1, maxBytes: -1, overflow: "drop-head"}
	bad := func(arg, want string) (queueSpec, *protocol.Error) {
		return queueSpec{}, &protocol.Error{Condition: protocol.ErrPreconditionFailed,
			Description: fmt.Sprintf("queue %q: %s must be %s", name, arg, want)}
	}
	for k, v := range args {
		switch k {
		case "x-message-ttl":
			n, ok := argInt(v)
			if !ok || n < 0 {
				return bad(k, "a non-negative integer (ms)")
			}
			s.messageTTL = n
		case "x-expires":
			n, ok := argInt(v)
			if !ok || n <= 0 {
				return bad(k, "a positive integer (ms)")
			}
			s.expires = n
		case "x-max-length":
			n, ok := argInt(v)
			if !ok || n < 0 {
				return bad(k, "a non-negative integer")
			}
			s.maxLength = n
		case "x-max-length-bytes":
			n, ok := argInt(v)
			if !ok || n < 0 {
				return bad(k, "a non-negative integer")
			}
			s.maxBytes = n
		case "x-overflow":
			o, ok := v.(string)
			if !ok || (o != "drop-head" && o != "reject-publish" && o != "reject-publish-dlx") {
				return bad(k, `"drop-head", "reject-publish" or "reject-publish-dlx"`)
			}
			s.overflow = o
		case "x-dead-letter-exchange":
			x, ok := v.(string)
			if !ok {
				return bad(k, "a string")
			}
			s.dlx, s.hasDLX = x, true
		case "x-dead-letter-routing-key":
			x, ok := v.(string)
			if !ok {
				return bad(k, "a string")
			}
			s.dlrk, s.hasDLRK = x, true
		}
	}
	return s, nil
}

// plainQueue is a queue declared without arguments (auto-created, dynamic).
func plainQueue(name string, durable, exclusive, autoDelete bool) queueSpec {
	s, _ := queueSpecFrom(name, durable, autoDelete, exclusive, nil)
	return s
}

func argInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int8:
		return int64(n), true
	case int16:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case uint8:
		return int64(n), true
	case uint16:
		return int64(n), true
	case uint32:
		return int64(n), true
	case uint64:
		if n > math.MaxInt64 {
			return 0, false
		}
		return int64(n), true
	case float64:
		if n == math.Trunc(n) && n >= math.MinInt64 && n <= math.MaxInt64 {
			return int64(n), true
		}
	}
	return 0, false
}
