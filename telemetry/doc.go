// Package telemetry is Warren's OpenTelemetry layer (DESIGN.md §7): tracing
// configured from the standard OTEL_* environment and exported over OTLP,
// metrics exposed in Prometheus text form, W3C trace context carried in AMQP
// messages ("Trace Context: AMQP" draft), span helpers that follow the
// OpenTelemetry messaging semantic conventions, and an slog handler that adds
// trace and span ids to log records.
//
// With no OTLP endpoint configured, tracing is off: the Tracer is a no-op,
// TracingEnabled is false and StartSpan neither allocates nor touches the
// context, so callers may call it unconditionally on the hot path. Metrics are
// always recorded; Handler serves them from a private Prometheus registry.
//
// The package knows nothing about actors: the broker calls it explicitly.
package telemetry
