package definitions

import (
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// Hashing algorithms of RabbitMQ's password_hash, with the length of base64-decoded salt[4] ++ digest.
var hashLengths = map[string]int{
	"rabbit_password_hashing_sha256": 4 + 32,
	"rabbit_password_hashing_sha512": 4 + 64,
	"rabbit_password_hashing_md5":    4 + 16,
}

// defaultHashing is what an absent hashing_algorithm means (RabbitMQ's default since 3.6).
const defaultHashing = "rabbit_password_hashing_sha256"

func checkUser(u User) error {
	if u.Name == "" {
		return errors.New("name must not be empty")
	}
	if u.Password != "" && u.PasswordHash != "" {
		return errors.New("password and password_hash are mutually exclusive")
	}
	algo := u.HashingAlgorithm
	if algo == "" {
		algo = defaultHashing
	}
	want, ok := hashLengths[algo]
	if !ok {
		return fmt.Errorf("unknown hashing_algorithm %q (want one of %s)", u.HashingAlgorithm, strings.Join(slices.Sorted(maps.Keys(hashLengths)), ", "))
	}
	if u.PasswordHash == "" {
		return nil // no password: the user cannot log in with SASL PLAIN
	}
	if isModernHash(u.PasswordHash) {
		return nil // bcrypt or argon2id: the broker parses it at load and names the entry if it is malformed
	}
	raw, err := base64.StdEncoding.DecodeString(u.PasswordHash)
	if err != nil {
		return errors.New("password_hash is not valid base64")
	}
	if len(raw) != want {
		return fmt.Errorf("password_hash holds %d bytes, %s needs %d (4 of salt and the digest)", len(raw), algo, want)
	}
	return nil
}

// isModernHash reports whether a password_hash is a bcrypt hash ("$2a$…", "$2b$…", "$2y$…") or an
// argon2 PHC string ("$argon2id$…") rather than RabbitMQ's base64 salted hash, which never starts
// with "$" (not a base64 character).
func isModernHash(h string) bool {
	return strings.HasPrefix(h, "$2") || strings.HasPrefix(h, "$argon2")
}

func checkPermission(p Permission) error {
	if p.User == "" {
		return errors.New("user must not be empty")
	}
	for _, f := range []struct{ name, re string }{{"configure", p.Configure}, {"write", p.Write}, {"read", p.Read}} {
		if _, err := regexp.Compile(f.re); err != nil {
			return fmt.Errorf("%s is not a valid regular expression: %v", f.name, err)
		}
	}
	return nil
}

// Built-in exchange types; custom types must be named "x-…" and are checked by the broker, which
// knows which ones are registered.
var exchangeTypes = []string{"direct", "fanout", "topic", "headers"}

func checkExchange(x Exchange) error {
	switch {
	case x.Type == "":
		return errors.New("type must not be empty")
	case slices.Contains(exchangeTypes, x.Type):
	case strings.HasPrefix(x.Type, "x-") && len(x.Type) > 2:
	default:
		return fmt.Errorf("type %q is not one of %s or a custom x-… type", x.Type, strings.Join(exchangeTypes, ", "))
	}
	if v, ok := x.Arguments["alternate-exchange"]; ok {
		if _, isString := v.(string); !isString {
			return errors.New("alternate-exchange must be a string")
		}
	}
	return nil
}

// argRule checks one queue argument's value and says what it must be when it fails.
type argRule struct {
	ok   func(v any) bool
	want string
}

func nonNegativeInt(v any) bool { i, ok := v.(int64); return ok && i >= 0 }
func positiveInt(v any) bool    { i, ok := v.(int64); return ok && i > 0 }
func isString(v any) bool       { _, ok := v.(string); return ok }

func oneOf(values ...string) argRule {
	return argRule{
		ok:   func(v any) bool { s, ok := v.(string); return ok && slices.Contains(values, s) },
		want: "one of " + strings.Join(quoteAll(values), ", "),
	}
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

// queueArgRules are the queue arguments Warren knows, as RabbitMQ types them. Others are kept as given.
var queueArgRules = map[string]argRule{
	"x-message-ttl":             {nonNegativeInt, "a non-negative integer (milliseconds)"},
	"x-expires":                 {positiveInt, "a positive integer (milliseconds)"},
	"x-max-length":              {nonNegativeInt, "a non-negative integer"},
	"x-max-length-bytes":        {nonNegativeInt, "a non-negative integer"},
	"x-overflow":                oneOf("drop-head", "reject-publish", "reject-publish-dlx"),
	"x-dead-letter-exchange":    {isString, "a string"},
	"x-dead-letter-routing-key": {isString, "a string"},
	"x-queue-type":              oneOf("classic", "quorum", "stream"),
}

func checkQueueArguments(args map[string]any) error {
	for _, k := range slices.Sorted(maps.Keys(args)) {
		if rule, ok := queueArgRules[k]; ok && !rule.ok(args[k]) {
			return fmt.Errorf("%s must be %s", k, rule.want)
		}
	}
	return nil
}

// xMatch is the headers exchange's x-match binding argument (RabbitMQ semantics).
var xMatch = oneOf("all", "any", "all-with-x", "any-with-x")

func checkBinding(b Binding) error {
	switch {
	case b.Source == "":
		return errors.New("source must not be empty: every queue is bound to the default exchange implicitly")
	case b.Destination == "":
		return errors.New("destination must not be empty")
	case b.DestinationType != DestinationQueue && b.DestinationType != DestinationExchange:
		return fmt.Errorf("destination_type %q must be %q or %q", b.DestinationType, DestinationQueue, DestinationExchange)
	}
	if v, ok := b.Arguments["x-match"]; ok && !xMatch.ok(v) {
		return fmt.Errorf("x-match must be %s", xMatch.want)
	}
	return nil
}
