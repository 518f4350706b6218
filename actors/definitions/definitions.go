// Package definitions reads, validates and writes RabbitMQ's definitions file (the JSON that
// `rabbitmqctl export_definitions` writes): users, vhosts, permissions, exchanges, queues and bindings
// (DESIGN.md §5).
//
// Parse is strict about what Warren applies and lenient about what it does not: a field Warren does not
// use is ignored with one warning per field name (naming the first entry that holds it), while a value
// that cannot work stops with an error naming the entry, e.g.
//
//	queues[3] "orders": x-max-length must be a non-negative integer
//
// Whether exchanges and queues already exist, and whether custom exchange types are registered, is for
// the broker to check when it applies the definitions.
package definitions

import (
	"fmt"
	"log/slog"
	"os"
)

// DefaultVhost is the virtual host every broker has; entries that name no vhost belong to it, and it
// may be referenced without being listed in "vhosts".
const DefaultVhost = "/"

// Definitions is the content of a definitions file.
type Definitions struct {
	RabbitVersion string
	Users         []User
	Vhosts        []Vhost
	Permissions   []Permission
	Exchanges     []Exchange
	Queues        []Queue
	Bindings      []Binding
}

// User is a user that may log in.
type User struct {
	Name string
	// Password is a plain-text password: for development only. Exclusive with PasswordHash.
	Password string
	// PasswordHash is RabbitMQ's base64(salt[4] ++ H(salt ++ password)); HashingAlgorithm names H
	// (rabbit_password_hashing_sha256, _sha512 or _md5; empty = the broker's default). It may also be a
	// bcrypt hash ("$2b$…") or an argon2id PHC string ("$argon2id$…"), which name their own algorithm.
	PasswordHash     string
	HashingAlgorithm string
	// Tags such as "administrator". RabbitMQ writes them as a comma-separated string or a list; both parse.
	Tags []string
}

// Vhost is a virtual host.
type Vhost struct {
	Name string
}

// Permission grants User the right to configure, write and read the resources of Vhost whose names
// match the regular expressions (RabbitMQ semantics: an empty expression grants nothing).
type Permission struct {
	User      string
	Vhost     string
	Configure string
	Write     string
	Read      string
}

// Exchange is an exchange to declare. Type is direct, fanout, topic, headers or a custom "x-…" type.
type Exchange struct {
	Name       string
	Vhost      string
	Type       string
	Durable    bool
	AutoDelete bool
	Internal   bool
	// Arguments hold JSON values with integral numbers as int64 and other numbers as float64; nil when empty.
	Arguments map[string]any
}

// Queue is a queue to declare.
type Queue struct {
	Name       string
	Vhost      string
	Durable    bool
	AutoDelete bool
	Exclusive  bool
	// Arguments such as x-message-ttl, x-max-length, x-overflow, x-dead-letter-exchange; numbers as in
	// Exchange.Arguments; nil when empty.
	Arguments map[string]any
}

// Binding routes from the exchange Source to Destination, a queue or an exchange.
type Binding struct {
	Source          string
	Vhost           string
	Destination     string
	DestinationType string // DestinationQueue or DestinationExchange
	RoutingKey      string
	// Arguments match headers exchanges (x-match and the headers); numbers as in Exchange.Arguments.
	Arguments map[string]any
}

// Binding destination types.
const (
	DestinationQueue    = "queue"
	DestinationExchange = "exchange"
)

// Load reads and parses the definitions file at path. Errors name the file and the entry.
func Load(path string, logger *slog.Logger) (*Definitions, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("definitions: %w", err)
	}
	if logger == nil {
		logger = slog.Default()
	}
	d, err := parse(data, logger.With("file", path))
	if err != nil {
		return nil, fmt.Errorf("definitions %s: %w", path, err)
	}
	return d, nil
}

// Parse decodes and validates a definitions file. Warnings about ignored fields go to logger
// (nil = slog.Default()).
func Parse(data []byte, logger *slog.Logger) (*Definitions, error) {
	if logger == nil {
		logger = slog.Default()
	}
	d, err := parse(data, logger)
	if err != nil {
		return nil, fmt.Errorf("definitions: %w", err)
	}
	return d, nil
}

func parse(data []byte, logger *slog.Logger) (*Definitions, error) {
	p := &parser{log: logger, warned: map[string]int{}}
	d, err := p.parse(data)
	p.flushWarnings()
	return d, err
}
