package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// ScopeName is the instrumentation scope of Warren's tracer and meter.
const ScopeName = "github.com/warren-mq/warren"

// Options configures Setup.
type Options struct {
	// ServiceVersion becomes the service.version resource attribute.
	ServiceVersion string
	// Getenv reads the OTEL_* configuration; nil means os.Getenv.
	Getenv func(string) string
	// Logger receives configuration warnings; nil discards them.
	Logger *slog.Logger
}

// Telemetry is Warren's tracer, metrics and metrics endpoint.
type Telemetry struct {
	// Tracer creates spans; a no-op tracer when tracing is off.
	Tracer trace.Tracer
	// TracingEnabled reports whether spans are exported. When false, StartSpan
	// returns at once without allocating.
	TracingEnabled bool
	// Metrics holds the instruments of DESIGN.md §7.
	Metrics *Metrics
	// Handler serves the metrics in Prometheus text format (mount at /metrics).
	Handler http.Handler

	tracerProvider *sdktrace.TracerProvider // nil when tracing is off
	meterProvider  *sdkmetric.MeterProvider // nil for the no-op fallback
	shutdownOnce   sync.Once
	shutdownErr    error
}

// Setup configures telemetry from the standard OTEL_* environment (see
// readExportConfig and readSampler): OTLP trace export over grpc,
// http/protobuf (the default) or http/json when an endpoint is set, and
// metrics in a private Prometheus registry in every case. OTEL_SDK_DISABLED
// turns tracing off; metrics stay on because /metrics is Warren's own
// endpoint, not an OpenTelemetry export. The exporters read the settings
// Setup does not (certificates, OTEL_BSP_*) from the process environment.
func Setup(ctx context.Context, opts Options) (*Telemetry, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	e := env(getenv)
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithAttributes(resourceAttributes(e, opts.ServiceVersion, log)...))
	if err != nil {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}

	t, err := newMetricsTelemetry(res)
	if err != nil {
		return nil, err
	}

	cfg, err := readExportConfig(e, log)
	if err != nil {
		return nil, errors.Join(err, t.Shutdown(ctx))
	}
	if !cfg.enabled {
		return t, nil
	}
	exporter, err := newTraceExporter(ctx, cfg)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("telemetry: OTLP exporter: %w", err), t.Shutdown(ctx))
	}
	t.tracerProvider = sdktrace.NewTracerProvider(
		sdktrace.WithResource(res),
		sdktrace.WithSampler(readSampler(e, log)),
		sdktrace.WithBatcher(exporter))
	t.Tracer = t.tracerProvider.Tracer(ScopeName)
	t.TracingEnabled = true
	log.Info("telemetry: exporting traces", "endpoint", cfg.endpointURL, "protocol", cfg.protocol)
	return t, nil
}

// NewWithTracerProvider returns telemetry that traces through tp (for tests
// with an in-memory span recorder, or embedders that own their provider) and
// records metrics like Nop. Shutdown does not shut tp down.
func NewWithTracerProvider(tp trace.TracerProvider) *Telemetry {
	t := Nop()
	t.Tracer = tp.Tracer(ScopeName)
	t.TracingEnabled = true
	return t
}

// Nop returns telemetry with tracing off and metrics recorded into a private
// registry (for tests and embedding).
func Nop() *Telemetry {
	res := resource.NewSchemaless()
	t, err := newMetricsTelemetry(res)
	if err == nil {
		return t
	}
	// Unreachable with a fresh registry; fall back to no-op instruments.
	m, _ := NewMetrics(noop.NewMeterProvider().Meter(ScopeName))
	return &Telemetry{
		Tracer:  tracenoop.NewTracerProvider().Tracer(ScopeName),
		Metrics: m,
		Handler: promhttp.HandlerFor(prometheus.NewRegistry(), promhttp.HandlerOpts{}),
	}
}

// newMetricsTelemetry builds the metrics pipeline (OpenTelemetry meter →
// Prometheus exporter → private registry) with tracing off.
func newMetricsTelemetry(res *resource.Resource) (*Telemetry, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, fmt.Errorf("telemetry: go collector: %w", err)
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, fmt.Errorf("telemetry: process collector: %w", err)
	}
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("telemetry: prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter), sdkmetric.WithResource(res))
	m, err := NewMetrics(mp.Meter(ScopeName))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("telemetry: instruments: %w", err), mp.Shutdown(context.Background()))
	}
	return &Telemetry{
		Tracer:        tracenoop.NewTracerProvider().Tracer(ScopeName),
		Metrics:       m,
		Handler:       promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		meterProvider: mp,
	}, nil
}

func newTraceExporter(ctx context.Context, cfg exportConfig) (*otlptrace.Exporter, error) {
	if cfg.protocol == ProtocolGRPC {
		o := []otlptracegrpc.Option{otlptracegrpc.WithEndpointURL(cfg.endpointURL)}
		if cfg.headers != nil {
			o = append(o, otlptracegrpc.WithHeaders(cfg.headers))
		}
		if cfg.timeout > 0 {
			o = append(o, otlptracegrpc.WithTimeout(cfg.timeout))
		}
		if cfg.gzip {
			o = append(o, otlptracegrpc.WithCompressor("gzip"))
		}
		return otlptracegrpc.New(ctx, o...)
	}
	o := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(cfg.endpointURL)}
	if cfg.protocol == ProtocolHTTPJSON {
		o = append(o, otlptracehttp.WithEncoding(otlptracehttp.EncodingJSON))
	}
	if cfg.headers != nil {
		o = append(o, otlptracehttp.WithHeaders(cfg.headers))
	}
	if cfg.timeout > 0 {
		o = append(o, otlptracehttp.WithTimeout(cfg.timeout))
	}
	if cfg.gzip {
		o = append(o, otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
	} else {
		o = append(o, otlptracehttp.WithCompression(otlptracehttp.NoCompression))
	}
	return otlptracehttp.New(ctx, o...)
}

// Shutdown flushes pending spans and stops the providers. It is safe to call
// more than once.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	t.shutdownOnce.Do(func() {
		var errs []error
		if t.tracerProvider != nil {
			errs = append(errs, t.tracerProvider.Shutdown(ctx))
		}
		if t.meterProvider != nil {
			errs = append(errs, t.meterProvider.Shutdown(ctx))
		}
		t.shutdownErr = errors.Join(errs...)
	})
	return t.shutdownErr
}
