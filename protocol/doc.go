// Package protocol implements the AMQP 1.0 wire format for Warren: the type
// system and its codec (spec part 1), frames (spec 2.3), performatives
// (spec 2.7), SASL (spec 5.3), delivery states (spec 3.4), termini (spec 3.5),
// transactions (spec 4) and the message format (spec 3.2). It depends on the
// standard library only and knows nothing about actors.
//
// AMQP values map to Go types one to one (null→nil, uint→uint32,
// symbol→Symbol, map→Map, described→*Described, ...; the full table is in
// types.go). Encoders append to a caller's buffer (AppendUint, AppendMap,
// AppendAny, ...); a Decoder reads them back and reports malformed input as a
// *DecodeError, never a panic.
//
// The composite types of AMQP 1.0 — performatives, SASL frames, termini,
// delivery states, the message header and properties, transactions — are
// generated from the specification's XML by ./gen into composites_gen.go; each
// struct quotes its XML definition. Every composite has
//
//	Append(b []byte) ([]byte, error) // described list, numeric descriptor
//	Decode(d *Decoder) error         // numeric or symbolic descriptor
//
// Encoders omit trailing fields that are null or hold their default (an open
// with defaults is just its container-id); decoders apply the defaults of
// absent and null fields and reject a missing mandatory field with a
// *DecodeError. Optional fields whose absence means something use Opt[T]
// (Begin.RemoteChannel, Flow.LinkCredit, Transfer.DeliveryID, ...); for the
// others the Go zero value is encoded as null.
//
// Hot paths do not allocate: (*Transfer).DecodeBody reuses its receiver and
// aliases the delivery tag and payload into the frame body;
// AppendTransferFrame, AppendFrame with a reused Flow or Disposition, and
// AppendMessageForDelivery append into the caller's buffer.
//
// Messages (spec 3.2) are parsed into offsets: ParseMessage locates every
// section, decodes header, annotations and properties, and leaves the body
// encoded; AppendMessageForDelivery re-emits a message with a new header and
// extra message-annotations around the untouched bare message.
//
// Errors that end a connection, session or link are *Error values carrying a
// standard condition (conditions.go); ConditionFor maps any Go error to one.
package protocol

//go:generate go run ./gen
