package telemetry

import (
	"context"

	"github.com/warren-mq/warren/protocol"
	"go.opentelemetry.io/otel/trace"
)

// The W3C "Trace Context: AMQP" draft carries the traceparent and tracestate
// headers in the message-annotations (spec 3.2.3), which intermediaries such
// as Warren may modify, or in the application-properties (spec 3.2.5), which
// belong to the immutable bare message and only producers set.
const (
	keyTraceparent = "traceparent"
	keyTracestate  = "tracestate"
)

// binaryTraceparentLen is the draft's binary traceparent: version (1 byte),
// trace-id (16), parent-id (8), trace-flags (1).
const binaryTraceparentLen = 1 + 16 + 8 + 1

// The annotation keys Inject writes, boxed once.
var (
	symTraceparent any = protocol.Symbol(keyTraceparent)
	symTracestate  any = protocol.Symbol(keyTracestate)
)

// Extract returns ctx carrying the producer's remote span context, read from
// the message-annotations first and then from the application-properties. A
// section whose traceparent is missing or invalid is skipped; tracestate is
// taken from the same section as the traceparent and dropped when invalid.
// Keys may be symbols or strings; values strings, or binary holding either the
// header's text or the 26-byte binary form. With no valid traceparent, ctx is
// returned unchanged.
func Extract(ctx context.Context, messageAnnotations, applicationProperties protocol.Map) context.Context {
	for _, m := range [2]protocol.Map{messageAnnotations, applicationProperties} {
		if sc, ok := spanContextFrom(m); ok {
			return trace.ContextWithRemoteSpanContext(ctx, sc)
		}
	}
	return ctx
}

func spanContextFrom(m protocol.Map) (trace.SpanContext, bool) {
	if len(m) == 0 {
		return trace.SpanContext{}, false
	}
	tp, ok := lookup(m, keyTraceparent)
	if !ok {
		return trace.SpanContext{}, false
	}
	ts, _ := lookup(m, keyTracestate)
	var tsText string
	switch v := ts.(type) {
	case string:
		tsText = v
	case []byte:
		tsText = string(v)
	}

	var tpText string
	switch v := tp.(type) {
	case string:
		tpText = v
	case []byte:
		if len(v) == binaryTraceparentLen {
			return binarySpanContext(v, tsText)
		}
		tpText = string(v)
	default:
		return trace.SpanContext{}, false
	}
	return textSpanContext(tpText, tsText)
}

// lookup finds key as a symbol or a string, symbol first.
func lookup(m protocol.Map, key string) (any, bool) {
	for _, e := range m {
		if k, ok := e.Key.(protocol.Symbol); ok && string(k) == key {
			return e.Value, true
		}
	}
	for _, e := range m {
		if k, ok := e.Key.(string); ok && k == key {
			return e.Value, true
		}
	}
	return nil, false
}

// binarySpanContext decodes the 26-byte binary traceparent. Version 0xff is
// invalid, as are all-zero trace and parent ids (W3C Trace Context 3.2.2).
func binarySpanContext(b []byte, tracestate string) (trace.SpanContext, bool) {
	if b[0] == 0xff {
		return trace.SpanContext{}, false
	}
	var cfg trace.SpanContextConfig
	copy(cfg.TraceID[:], b[1:17])
	copy(cfg.SpanID[:], b[17:25])
	cfg.TraceFlags = trace.TraceFlags(b[25])
	return newRemoteSpanContext(cfg, tracestate)
}

// textSpanContext parses the traceparent header (W3C Trace Context 3.2):
// "{version}-{trace-id}-{parent-id}-{trace-flags}" in lower-case hex. Version
// ff is invalid; version 00 has exactly these four fields, while a later
// version may append more after a dash, which are ignored (3.2.4).
func textSpanContext(s, tracestate string) (trace.SpanContext, bool) {
	const size = 2 + 1 + 32 + 1 + 16 + 1 + 2
	if len(s) < size || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return trace.SpanContext{}, false
	}
	var version [1]byte
	if !decodeLowerHex(version[:], s[0:2]) || version[0] == 0xff {
		return trace.SpanContext{}, false
	}
	if len(s) > size && (version[0] == 0 || s[size] != '-') {
		return trace.SpanContext{}, false
	}
	var cfg trace.SpanContextConfig
	var flags [1]byte
	if !decodeLowerHex(cfg.TraceID[:], s[3:35]) || !decodeLowerHex(cfg.SpanID[:], s[36:52]) ||
		!decodeLowerHex(flags[:], s[53:55]) {
		return trace.SpanContext{}, false
	}
	cfg.TraceFlags = trace.TraceFlags(flags[0])
	return newRemoteSpanContext(cfg, tracestate)
}

// newRemoteSpanContext completes a parsed traceparent: only the sampled flag
// is defined (W3C Trace Context 3.2.2.5), all-zero ids are invalid, and an
// invalid tracestate is dropped without dropping the traceparent (3.3.1.1).
func newRemoteSpanContext(cfg trace.SpanContextConfig, tracestate string) (trace.SpanContext, bool) {
	cfg.TraceFlags &= trace.FlagsSampled
	cfg.Remote = true
	if tracestate != "" {
		if st, err := trace.ParseTraceState(tracestate); err == nil {
			cfg.TraceState = st
		}
	}
	sc := trace.NewSpanContext(cfg)
	return sc, sc.IsValid()
}

// decodeLowerHex decodes len(dst)*2 lower-case hex digits of src into dst.
func decodeLowerHex(dst []byte, src string) bool {
	if len(src) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, ok1 := lowerHexDigit(src[2*i])
		lo, ok2 := lowerHexDigit(src[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func lowerHexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// Inject returns the message-annotation entries that carry the span context
// of ctx: symbol keys traceparent and, when not empty, tracestate, with string
// values. It returns nil when ctx has no valid span context.
func Inject(ctx context.Context) protocol.Map {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return nil
	}
	var ts string
	if sc.TraceState().Len() > 0 {
		ts = sc.TraceState().String()
	}
	n := 1
	if ts != "" {
		n = 2
	}
	m := make(protocol.Map, 1, n)
	m[0] = protocol.MapEntry{Key: symTraceparent, Value: formatTraceparent(sc)}
	if ts != "" {
		m = append(m, protocol.MapEntry{Key: symTracestate, Value: ts})
	}
	return m
}

// formatTraceparent renders version 00 of the traceparent header:
// "00-{trace-id}-{parent-id}-{flags}".
func formatTraceparent(sc trace.SpanContext) string {
	const digits = "0123456789abcdef"
	var b [55]byte
	tid, sid := sc.TraceID(), sc.SpanID()
	b[0], b[1], b[2] = '0', '0', '-'
	for i, c := range tid {
		b[3+2*i], b[4+2*i] = digits[c>>4], digits[c&0xf]
	}
	b[35] = '-'
	for i, c := range sid {
		b[36+2*i], b[37+2*i] = digits[c>>4], digits[c&0xf]
	}
	f := byte(sc.TraceFlags() & trace.FlagsSampled)
	b[52], b[53], b[54] = '-', digits[f>>4], digits[f&0xf]
	return string(b[:])
}

// InjectInto returns a copy of annotations in which the traceparent and
// tracestate entries (symbol or string keys) are replaced by those of ctx, so
// a delivery carries the broker's span and no stale tracestate. The input is
// never modified: a message routed to several queues shares its annotations.
// Without a valid span context in ctx, annotations is returned as is.
func InjectInto(ctx context.Context, annotations protocol.Map) protocol.Map {
	entries := Inject(ctx)
	if entries == nil {
		return annotations
	}
	out := make(protocol.Map, 0, len(annotations)+len(entries))
	for _, e := range annotations {
		if !isTraceKey(e.Key) {
			out = append(out, e)
		}
	}
	return append(out, entries...)
}

func isTraceKey(k any) bool {
	var s string
	switch v := k.(type) {
	case protocol.Symbol:
		s = string(v)
	case string:
		s = v
	default:
		return false
	}
	return s == keyTraceparent || s == keyTracestate
}
