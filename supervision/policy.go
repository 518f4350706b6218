// Package supervision holds Warren's supervision policy in one readable place (DESIGN.md §1): what a
// failure of each kind of actor does, how often a restartable actor may fail before it is given up,
// and the fault injection tests use to make a chosen actor panic on a chosen message.
//
//	actor       parent      on panic
//	vhost       broker      restart (rebuilt from the definitions and the store; its queues and
//	                        exchanges restart with it); the request it was handling is refused
//	exchange    vhost       restart; bindings rebuilt from the vhost
//	queue       vhost       restart with backoff, state kept
//	connection  broker      stop; the socket gets close with amqp:internal-error
//	session     connection  stop; end with amqp:internal-error, the connection lives on
//	link        session     stop; detach with amqp:internal-error, the session lives on
//
// Escalation: a restartable actor that fails more than MaxFailures times within Window is given up —
// stopped for good and an alarm raised (logged, and listed by the broker's Alarms); a queue's consumers
// are detached with amqp:internal-error, an exchange's bindings are dropped. Every failure is logged
// with the actor's path and counted in the actor-restarts metric.
package supervision

import (
	"strings"
	"time"
)

// Kind is the kind of a supervised actor, read from its name.
type Kind string

const (
	Vhost      Kind = "vhost"
	Exchange   Kind = "exchange"
	Queue      Kind = "queue"
	Connection Kind = "connection"
	Session    Kind = "session"
	Link       Kind = "link"
	Other      Kind = "other"
)

// Name prefixes of Warren's actors: the last path element of a PID starts with one of these.
const (
	PrefixVhost      = "vhost-"
	PrefixExchange   = "x-"
	PrefixQueue      = "q-"
	PrefixConnection = "conn-"
	PrefixSession    = "s"
	PrefixLink       = "l"
)

// KindOf tells an actor's kind from its PID id, by its place in Warren's tree (DESIGN.md §1): under the
// broker supervisor ("warren") are vhosts ("vhost-…") and connections ("conn-…"); a vhost's children are
// exchanges ("x-…", their extension fronts included) and queues ("q-…"); a connection's children are
// sessions and a session's are links. So "warren/conn-3/s0-1/l2-5" is a link, and a name below a vhost
// that holds a '/' (an extension front's "x-a/b-front-3") is still an exchange.
func KindOf(id string) Kind {
	_, rest, ok := strings.Cut(id, "/") // the broker supervisor's own name
	if !ok {
		return Other
	}
	top, rest, deeper := strings.Cut(rest, "/")
	switch {
	case strings.HasPrefix(top, PrefixVhost):
		switch {
		case !deeper:
			return Vhost
		case strings.HasPrefix(rest, PrefixExchange):
			return Exchange
		case strings.HasPrefix(rest, PrefixQueue) && !strings.Contains(rest, "/"):
			return Queue
		}
	case strings.HasPrefix(top, PrefixConnection):
		if !deeper {
			return Connection
		}
		session, rest, deeper := strings.Cut(rest, "/")
		switch {
		case !deeper && strings.HasPrefix(session, PrefixSession):
			return Session
		case deeper && !strings.Contains(rest, "/") && strings.HasPrefix(rest, PrefixLink):
			return Link
		}
	}
	return Other
}

// Directive is what a failure of an actor leads to.
type Directive int

const (
	Restart Directive = iota // build the actor anew; it rebuilds its state in Started
	Stop                     // stop it; its parent tells the peer
)

func (d Directive) String() string {
	if d == Restart {
		return "restart"
	}
	return "stop"
}

// Policy is the supervision policy of one kind.
type Policy struct {
	Directive Directive
	// MaxFailures within Window turn a restart into giving up (stop + alarm); 0 = never give up.
	MaxFailures int
	Window      time.Duration
	// Backoff delays the n-th restart within the window by Backoff·2^(n-1), capped at MaxBackoff.
	Backoff    time.Duration
	MaxBackoff time.Duration
}

// Policies are Warren's supervision rules per kind.
var Policies = map[Kind]Policy{
	Vhost:      {Directive: Restart, MaxFailures: 10, Window: 10 * time.Second},
	Exchange:   {Directive: Restart, MaxFailures: 10, Window: 10 * time.Second},
	Queue:      {Directive: Restart, MaxFailures: 5, Window: 10 * time.Second, Backoff: 10 * time.Millisecond, MaxBackoff: time.Second},
	Connection: {Directive: Stop},
	Session:    {Directive: Stop},
	Link:       {Directive: Stop},
	Other:      {Directive: Stop},
}

// Decide returns what a failure of an actor of kind k does, given how many times it failed within the
// kind's window (including this one), and how long to wait before restarting.
func Decide(k Kind, failures int) (d Directive, giveUp bool, delay time.Duration) {
	p := Policies[k]
	if p.Directive == Stop {
		return Stop, false, 0
	}
	if p.MaxFailures > 0 && failures > p.MaxFailures {
		return Stop, true, 0
	}
	if p.Backoff > 0 && failures > 1 {
		delay = p.Backoff << min(failures-2, 20)
		if p.MaxBackoff > 0 && delay > p.MaxBackoff {
			delay = p.MaxBackoff
		}
	}
	return Restart, false, delay
}
