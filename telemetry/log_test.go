package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func decodeLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range bytes.Lines(buf.Bytes()) {
		var rec map[string]any
		require.NoError(t, json.Unmarshal(line, &rec))
		out = append(out, rec)
	}
	return out
}

func TestLogHandlerAddsTraceAndSpanIDs(t *testing.T) {
	recorder := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	defer func() { require.NoError(t, tp.Shutdown(context.Background())) }()

	var buf bytes.Buffer
	log := slog.New(NewLogHandler(slog.NewJSONHandler(&buf, nil))).With("component", "queue")

	ctx, span := tp.Tracer("test").Start(context.Background(), "deliver q")
	log.InfoContext(ctx, "delivered", "n", 1)
	log.WithGroup("g").InfoContext(ctx, "grouped")
	span.End()
	log.InfoContext(context.Background(), "no span")
	log.Info("no context")

	recs := decodeLines(t, &buf)
	require.Len(t, recs, 4)
	sc := span.SpanContext()
	assert.Equal(t, sc.TraceID().String(), recs[0][LogKeyTraceID])
	assert.Equal(t, sc.SpanID().String(), recs[0][LogKeySpanID])
	assert.Equal(t, "queue", recs[0]["component"])
	assert.EqualValues(t, 1, recs[0]["n"])
	group, ok := recs[1]["g"].(map[string]any)
	require.True(t, ok, "group missing: %v", recs[1])
	assert.Equal(t, sc.TraceID().String(), group[LogKeyTraceID])
	for _, rec := range recs[2:] {
		assert.NotContains(t, rec, LogKeyTraceID)
		assert.NotContains(t, rec, LogKeySpanID)
	}
	require.Len(t, recorder.Ended(), 1)
}

func TestLogHandlerRemoteContextAndLevels(t *testing.T) {
	var buf bytes.Buffer
	h := NewLogHandler(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	assert.Same(t, h, NewLogHandler(h), "wrapping twice must not duplicate the ids")
	assert.False(t, h.Enabled(context.Background(), slog.LevelInfo))
	assert.True(t, h.Enabled(context.Background(), slog.LevelError))

	ctx := Extract(context.Background(), nil, appProps(tpA))
	slog.New(h).WarnContext(ctx, "from the producer")
	recs := decodeLines(t, &buf)
	require.Len(t, recs, 1)
	assert.Equal(t, traceA, recs[0][LogKeyTraceID])
	assert.Equal(t, spanA, recs[0][LogKeySpanID])
}
