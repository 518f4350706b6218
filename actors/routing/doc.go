// Package routing holds the binding tables and matching logic of Warren's exchange actors.
//
// A [Table] belongs to exactly one exchange actor and is touched only from inside that actor's
// Receive, so it has no locks and is not safe for concurrent use. It imports nothing from the
// rest of the broker: destinations are opaque comparable values ([Destination]) and message
// headers are read through a lookup function.
//
// The routing semantics are those of RabbitMQ's AMQP 0-9-1 exchange types, which RabbitMQ 4 also
// applies to AMQP 1.0 publishers (the routing key is the address suffix or properties.subject;
// the headers are the message's application-properties, AMQP 1.0 section 3.2.5):
//
//   - [Direct]: the routing key equals the binding key (one map lookup).
//   - [Fanout]: every bound destination; the routing key is ignored.
//   - [Topic]: keys are words separated by '.'; in a binding key the word "*" matches exactly one
//     word and "#" zero or more words. Empty words are allowed ("a..b" has three words) and the
//     empty key has zero words. Matching walks a trie of binding words as a non-deterministic
//     automaton, so its cost is bounded by (words in the routing key) x (trie nodes) even with
//     many "#" in a binding key.
//   - [Headers]: the binding arguments are compared with the message headers; see below.
//
// # Headers exchange
//
// The binding argument "x-match" selects the mode: "all" (the default), "any", "all-with-x" or
// "any-with-x"; any other value, or a non-string one, is refused by [Table.Add]. Every other
// argument is a key/value pair matched against the header with the same key. In "all" and "any"
// mode, arguments whose key starts with "x-" are ignored; the "-with-x" modes match them too
// ("x-match" itself is never matched). An argument whose value is nil (AMQP 0-9-1 void) matches
// when the header is present, whatever its value. "all" with no matched arguments matches every
// message; "any" with none matches no message.
//
// # Value comparison
//
// Binding argument values and header values are compared after normalisation:
//
//   - Numbers compare by mathematical value across all Go integer and float types: int32(5),
//     int64(5), uint8(5) and float64(5) are equal (a definitions file read from JSON yields
//     float64). Non-integral floats compare as float64; NaN equals nothing.
//   - Strings compare by content; a named string type (such as an AMQP symbol type) is a string.
//     A string never equals a number: "5" != 5.
//   - []byte (AMQP binary) compares by content and never equals a string.
//   - bool compares with bool; time.Time compares by instant (AMQP timestamp).
//   - Lists, arrays and maps compare element by element with the same rules, structs by their
//     exported fields; pointers compare by what they point to (a nil pointer is nil).
//   - Values that cannot be normalised (channels, functions, nesting deeper than 32 levels) are
//     refused as binding arguments and, as header values, equal nothing.
//
// Numbers compare exactly: float32(0.1) is not float64(0.1), as the two are different numbers.
//
// The same normalisation decides binding identity: two bindings with the same destination, key
// and normalised arguments are the same binding, so [Table.Add] of the second reports
// added=false and [Table.Remove] of either removes it.
package routing
