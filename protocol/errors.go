package protocol

import "strconv"

// DecodeError reports malformed AMQP-encoded input. It maps to the
// amqp:decode-error condition (spec 2.8.15).
type DecodeError struct {
	Offset int    // byte offset into the decoder's input where the fault was found
	Msg    string // what was wrong
}

func (e *DecodeError) Error() string {
	return "amqp: decode error at offset " + strconv.Itoa(e.Offset) + ": " + e.Msg
}

// FramingError reports a malformed frame or protocol header. It maps to the
// amqp:connection:framing-error condition (spec 2.8.16).
type FramingError struct {
	Msg string
}

func (e *FramingError) Error() string {
	return "amqp: framing error: " + e.Msg
}

// EncodeError reports a Go value that cannot be represented in the AMQP type
// system (unsupported Go type, invalid UTF-8 string, non-ASCII symbol, invalid
// char code point, value nested deeper than MaxNestingDepth, ...).
type EncodeError struct {
	Msg string
}

func (e *EncodeError) Error() string {
	return "amqp: encode error: " + e.Msg
}
