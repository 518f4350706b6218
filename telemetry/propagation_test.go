package telemetry

import (
	"context"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/protocol"
	"go.opentelemetry.io/otel/trace"
)

const (
	traceA = "4bf92f3577b34da6a3ce929d0e0e4736"
	spanA  = "00f067aa0ba902b7"
	tpA    = "00-" + traceA + "-" + spanA + "-01"
	traceB = "0af7651916cd43dd8448eb211c80319c"
	spanB  = "b7ad6b7169203331"
	tpB    = "00-" + traceB + "-" + spanB + "-00"
)

type testCtxKey struct{}

func sym(s string) protocol.Symbol { return protocol.Symbol(s) }

func remote(t *testing.T, ctx context.Context) trace.SpanContext {
	t.Helper()
	sc := trace.SpanContextFromContext(ctx)
	require.True(t, sc.IsValid(), "no valid span context extracted")
	assert.True(t, sc.IsRemote())
	return sc
}

// binaryTraceparent builds the draft's 26-byte form from hex constants.
func binaryTraceparent(version byte, traceID, spanID string, flags byte) []byte {
	tid, _ := hex.DecodeString(traceID)
	sid, _ := hex.DecodeString(spanID)
	b := append([]byte{version}, tid...)
	b = append(b, sid...)
	return append(b, flags)
}

func TestExtractPrefersMessageAnnotations(t *testing.T) {
	ann := protocol.Map{{Key: sym("x-opt-other"), Value: "v"}, {Key: sym("traceparent"), Value: tpA}}
	props := protocol.Map{{Key: "traceparent", Value: tpB}}
	sc := remote(t, Extract(context.Background(), ann, props))
	assert.Equal(t, traceA, sc.TraceID().String())
	assert.Equal(t, spanA, sc.SpanID().String())
	assert.True(t, sc.IsSampled())
}

func TestExtractFallsBackToApplicationProperties(t *testing.T) {
	cases := map[string]protocol.Map{
		"no annotations":      nil,
		"no traceparent":      {{Key: sym("x-opt-routing-key"), Value: "rk"}},
		"invalid traceparent": {{Key: sym("traceparent"), Value: "00-zz-yy-01"}},
		"wrong value type":    {{Key: sym("traceparent"), Value: int64(7)}},
	}
	for name, ann := range cases {
		t.Run(name, func(t *testing.T) {
			props := protocol.Map{{Key: "traceparent", Value: tpB}, {Key: "tracestate", Value: "congo=t61rcWkgMzE"}}
			sc := remote(t, Extract(context.Background(), ann, props))
			assert.Equal(t, traceB, sc.TraceID().String())
			assert.Equal(t, spanB, sc.SpanID().String())
			assert.False(t, sc.IsSampled())
			assert.Equal(t, "congo=t61rcWkgMzE", sc.TraceState().String())
		})
	}
}

func TestExtractKeyAndValueForms(t *testing.T) {
	cases := map[string]protocol.Map{
		"symbol key, string":   {{Key: sym("traceparent"), Value: tpA}},
		"string key, string":   {{Key: "traceparent", Value: tpA}},
		"symbol key, text bin": {{Key: sym("traceparent"), Value: []byte(tpA)}},
		"binary form":          {{Key: sym("traceparent"), Value: binaryTraceparent(0, traceA, spanA, 0x01)}},
		"binary, extra flags":  {{Key: sym("traceparent"), Value: binaryTraceparent(0, traceA, spanA, 0x03)}},
		"binary, version 1":    {{Key: sym("traceparent"), Value: binaryTraceparent(1, traceA, spanA, 0x01)}},
	}
	for name, ann := range cases {
		t.Run(name, func(t *testing.T) {
			sc := remote(t, Extract(context.Background(), ann, nil))
			assert.Equal(t, traceA, sc.TraceID().String())
			assert.Equal(t, spanA, sc.SpanID().String())
			assert.Equal(t, trace.FlagsSampled, sc.TraceFlags())
		})
	}
}

func TestExtractTracestate(t *testing.T) {
	t.Run("string with text traceparent", func(t *testing.T) {
		ann := protocol.Map{{Key: sym("traceparent"), Value: tpA}, {Key: sym("tracestate"), Value: "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"}}
		sc := remote(t, Extract(context.Background(), ann, nil))
		assert.Equal(t, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", sc.TraceState().String())
	})
	t.Run("binary with binary traceparent", func(t *testing.T) {
		ann := protocol.Map{
			{Key: "tracestate", Value: []byte("rojo=1")},
			{Key: sym("traceparent"), Value: binaryTraceparent(0, traceA, spanA, 1)},
		}
		sc := remote(t, Extract(context.Background(), ann, nil))
		assert.Equal(t, "rojo=1", sc.TraceState().String())
	})
	t.Run("invalid tracestate dropped, traceparent kept", func(t *testing.T) {
		for _, ann := range []protocol.Map{
			{{Key: sym("traceparent"), Value: tpA}, {Key: sym("tracestate"), Value: "not a list entry"}},
			{{Key: sym("traceparent"), Value: binaryTraceparent(0, traceA, spanA, 1)}, {Key: sym("tracestate"), Value: "=="}},
		} {
			sc := remote(t, Extract(context.Background(), ann, nil))
			assert.Equal(t, traceA, sc.TraceID().String())
			assert.Empty(t, sc.TraceState().String())
		}
	})
	t.Run("tracestate taken from the traceparent's section", func(t *testing.T) {
		ann := protocol.Map{{Key: sym("traceparent"), Value: tpA}}
		props := protocol.Map{{Key: "traceparent", Value: tpB}, {Key: "tracestate", Value: "congo=1"}}
		sc := remote(t, Extract(context.Background(), ann, props))
		assert.Equal(t, traceA, sc.TraceID().String())
		assert.Empty(t, sc.TraceState().String())
	})
}

func TestExtractIgnoresInvalid(t *testing.T) {
	zeroTrace := "00000000000000000000000000000000"
	zeroSpan := "0000000000000000"
	invalid := map[string]any{
		"empty":              "",
		"garbage":            "hello",
		"version ff":         "ff-" + traceA + "-" + spanA + "-01",
		"zero trace id":      "00-" + zeroTrace + "-" + spanA + "-01",
		"zero span id":       "00-" + traceA + "-" + zeroSpan + "-01",
		"upper-case hex":     "00-4BF92F3577B34DA6A3CE929D0E0E4736-" + spanA + "-01",
		"short trace id":     "00-" + traceA[2:] + "-" + spanA + "-01",
		"binary version ff":  binaryTraceparent(0xff, traceA, spanA, 1),
		"binary zero trace":  binaryTraceparent(0, zeroTrace, spanA, 1),
		"binary zero span":   binaryTraceparent(0, traceA, zeroSpan, 1),
		"binary wrong size":  binaryTraceparent(0, traceA, spanA, 1)[:25],
		"binary empty":       []byte{},
		"uint value":         uint32(1),
		"nil value":          nil,
		"symbol value":       sym(tpA),
		"map value":          protocol.Map{{Key: "a", Value: "b"}},
		"binary random text": []byte("00-not-hex-at-all-01"),
	}
	base := context.WithValue(context.Background(), testCtxKey{}, "kept")
	for name, v := range invalid {
		t.Run(name, func(t *testing.T) {
			ann := protocol.Map{{Key: sym("traceparent"), Value: v}}
			ctx := Extract(base, ann, protocol.Map{{Key: "traceparent", Value: v}})
			assert.Equal(t, base, ctx, "context must be returned unchanged")
			assert.False(t, trace.SpanContextFromContext(ctx).IsValid())
		})
	}
	t.Run("non-string keys", func(t *testing.T) {
		ann := protocol.Map{{Key: int64(1), Value: tpA}, {Key: []byte("traceparent"), Value: tpA}}
		assert.Equal(t, base, Extract(base, ann, nil))
	})
}

func TestInjectRoundTrip(t *testing.T) {
	for _, tp := range []string{tpA, tpB} {
		ann := protocol.Map{{Key: sym("traceparent"), Value: tp}, {Key: sym("tracestate"), Value: "rojo=00f067aa0ba902b7"}}
		out := Inject(Extract(context.Background(), ann, nil))
		require.Len(t, out, 2)
		assert.Equal(t, protocol.MapEntry{Key: sym("traceparent"), Value: tp}, out[0])
		assert.Equal(t, protocol.MapEntry{Key: sym("tracestate"), Value: "rojo=00f067aa0ba902b7"}, out[1])
	}

	t.Run("binary in, text out", func(t *testing.T) {
		ann := protocol.Map{{Key: sym("traceparent"), Value: binaryTraceparent(0, traceA, spanA, 1)}}
		out := Inject(Extract(context.Background(), ann, nil))
		assert.Equal(t, protocol.Map{{Key: sym("traceparent"), Value: tpA}}, out)
	})
	t.Run("no tracestate entry when empty", func(t *testing.T) {
		out := Inject(Extract(context.Background(), nil, protocol.Map{{Key: "traceparent", Value: tpB}}))
		assert.Equal(t, protocol.Map{{Key: sym("traceparent"), Value: tpB}}, out)
	})
	t.Run("nil without a span context", func(t *testing.T) {
		assert.Nil(t, Inject(context.Background()))
	})
}

func TestInjectIntoReplacesWithoutMutating(t *testing.T) {
	orig := protocol.Map{
		{Key: sym("x-opt-routing-key"), Value: "rk"},
		{Key: sym("traceparent"), Value: tpA},
		{Key: "tracestate", Value: "stale=1"},
	}
	snapshot := append(protocol.Map(nil), orig...)
	ctx := Extract(context.Background(), nil, protocol.Map{{Key: "traceparent", Value: tpB}})

	out := InjectInto(ctx, orig)
	assert.Equal(t, snapshot, orig, "input modified")
	assert.Equal(t, protocol.Map{
		{Key: sym("x-opt-routing-key"), Value: "rk"},
		{Key: sym("traceparent"), Value: tpB},
	}, out)

	assert.Equal(t, orig, InjectInto(context.Background(), orig), "no span context: unchanged")
}

func FuzzExtract(f *testing.F) {
	f.Add(tpA, []byte(tpB), "rojo=1")
	f.Add("", binaryTraceparent(0, traceA, spanA, 1), "")
	f.Fuzz(func(t *testing.T, text string, bin []byte, state string) {
		ann := protocol.Map{{Key: sym("traceparent"), Value: text}, {Key: sym("tracestate"), Value: state}}
		props := protocol.Map{{Key: "traceparent", Value: bin}, {Key: "tracestate", Value: []byte(state)}}
		ctx := Extract(context.Background(), ann, props)
		if out := Inject(ctx); out != nil {
			again := trace.SpanContextFromContext(Extract(context.Background(), out, nil))
			require.True(t, again.IsValid())
			require.Equal(t, trace.SpanContextFromContext(ctx).TraceID(), again.TraceID())
		}
	})
}

// appProps returns application-properties holding a string traceparent.
func appProps(traceparent string) protocol.Map {
	return protocol.Map{{Key: "traceparent", Value: traceparent}}
}

// injected returns the annotations Inject produces for a traceparent alone.
func injected(traceparent string) protocol.Map {
	return protocol.Map{{Key: sym("traceparent"), Value: traceparent}}
}

func TestExtractTraceparentVersions(t *testing.T) {
	valid := map[string]string{
		"future version":              "01-" + traceA + "-" + spanA + "-01",
		"future version, more fields": "cc-" + traceA + "-" + spanA + "-01-what-the-future-holds",
		"unknown flag bits dropped":   "00-" + traceA + "-" + spanA + "-ff",
	}
	for name, tp := range valid {
		t.Run(name, func(t *testing.T) {
			sc := remote(t, Extract(context.Background(), appProps(tp), nil))
			assert.Equal(t, traceA, sc.TraceID().String())
			assert.Equal(t, trace.FlagsSampled, sc.TraceFlags())
		})
	}
	invalid := map[string]string{
		"version 00 with more fields": tpA + "-extra",
		"future version, no dash":     "01-" + traceA + "-" + spanA + "-01x",
		"missing dash":                "00-" + traceA + "_" + spanA + "-01",
		"non-hex version":             "0g-" + traceA + "-" + spanA + "-01",
		"non-hex flags":               "00-" + traceA + "-" + spanA + "-0x",
		"upper-case span id":          "00-" + traceA + "-00F067AA0BA902B7-01",
	}
	for name, tp := range invalid {
		t.Run(name, func(t *testing.T) {
			assert.False(t, trace.SpanContextFromContext(Extract(context.Background(), appProps(tp), nil)).IsValid())
		})
	}
}
