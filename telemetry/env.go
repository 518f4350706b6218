package telemetry

import (
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// The OTLP protocols of the OpenTelemetry specification
// (OTEL_EXPORTER_OTLP_PROTOCOL). http/protobuf is the default.
const (
	ProtocolGRPC         = "grpc"
	ProtocolHTTPProtobuf = "http/protobuf"
	ProtocolHTTPJSON     = "http/json"
)

// DefaultServiceName is the service.name used when OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES do not name one.
const DefaultServiceName = "warren"

// exportConfig is the trace export configuration read from the environment.
type exportConfig struct {
	enabled     bool
	protocol    string
	endpointURL string // full URL; for HTTP it includes the /v1/traces path
	headers     map[string]string
	timeout     time.Duration // 0: the exporter's default
	gzip        bool
}

// env is a lookup over the caller's Getenv that trims blanks.
type env func(string) string

func (e env) get(key string) string { return strings.TrimSpace(e(key)) }

// signal returns the traces-specific variable OTEL_EXPORTER_OTLP_TRACES_<name>
// when set, else the generic OTEL_EXPORTER_OTLP_<name>.
func (e env) signal(name string) string {
	if v := e.get("OTEL_EXPORTER_OTLP_TRACES_" + name); v != "" {
		return v
	}
	return e.get("OTEL_EXPORTER_OTLP_" + name)
}

func (e env) boolean(key string) bool {
	return strings.EqualFold(e.get(key), "true")
}

// readExportConfig reads the OTLP trace exporter settings. Tracing is enabled
// only when an endpoint is configured, the SDK is not disabled and
// OTEL_TRACES_EXPORTER is not "none".
func readExportConfig(e env, log *slog.Logger) (exportConfig, error) {
	var c exportConfig
	if e.boolean("OTEL_SDK_DISABLED") {
		return c, nil
	}
	switch exp := strings.ToLower(e.get("OTEL_TRACES_EXPORTER")); exp {
	case "", "otlp":
	case "none":
		return c, nil
	default:
		log.Warn("telemetry: unsupported OTEL_TRACES_EXPORTER, using otlp", "value", exp)
	}

	c.protocol = strings.ToLower(e.signal("PROTOCOL"))
	switch c.protocol {
	case "":
		c.protocol = ProtocolHTTPProtobuf
	case ProtocolGRPC, ProtocolHTTPProtobuf, ProtocolHTTPJSON:
	default:
		return c, fmt.Errorf("telemetry: unsupported OTEL_EXPORTER_OTLP_PROTOCOL %q (want grpc, http/protobuf or http/json)", c.protocol)
	}

	insecure := e.boolean("OTEL_EXPORTER_OTLP_TRACES_INSECURE") || e.boolean("OTEL_EXPORTER_OTLP_INSECURE")
	if raw := e.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); raw != "" {
		// The signal-specific endpoint is used as is.
		u, err := parseEndpoint(raw, insecure)
		if err != nil {
			return c, err
		}
		c.endpointURL = u.String()
	} else if raw := e.get("OTEL_EXPORTER_OTLP_ENDPOINT"); raw != "" {
		u, err := parseEndpoint(raw, insecure)
		if err != nil {
			return c, err
		}
		if c.protocol != ProtocolGRPC {
			// The generic endpoint is a base URL: the signal path is appended.
			u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
		}
		c.endpointURL = u.String()
	} else {
		return c, nil
	}

	headers, err := parseKeyValues(e.signal("HEADERS"))
	if err != nil {
		return c, fmt.Errorf("telemetry: OTEL_EXPORTER_OTLP_HEADERS: %w", err)
	}
	if len(headers) > 0 {
		c.headers = make(map[string]string, len(headers))
		for _, kv := range headers {
			c.headers[kv.key] = kv.value
		}
	}
	if raw := e.signal("TIMEOUT"); raw != "" {
		ms, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || ms < 0 {
			log.Warn("telemetry: invalid OTEL_EXPORTER_OTLP_TIMEOUT, using the default", "value", raw)
		} else {
			c.timeout = time.Duration(ms) * time.Millisecond
		}
	}
	switch comp := strings.ToLower(e.signal("COMPRESSION")); comp {
	case "", "none":
	case "gzip":
		c.gzip = true
	default:
		log.Warn("telemetry: unsupported OTEL_EXPORTER_OTLP_COMPRESSION, sending uncompressed", "value", comp)
	}
	c.enabled = true
	return c, nil
}

// parseEndpoint parses an OTLP endpoint URL. An endpoint without a scheme
// ("collector:4317") is accepted as host:port, over TLS unless insecure.
func parseEndpoint(raw string, insecure bool) (*url.URL, error) {
	if !strings.Contains(raw, "://") {
		scheme := "https"
		if insecure {
			scheme = "http"
		}
		raw = scheme + "://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("telemetry: invalid OTLP endpoint: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("telemetry: OTLP endpoint %q: scheme must be http or https", raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("telemetry: OTLP endpoint %q has no host", raw)
	}
	return u, nil
}

type keyValue struct{ key, value string }

// parseKeyValues parses the W3C Baggage-like lists of OTEL_RESOURCE_ATTRIBUTES
// and OTEL_EXPORTER_OTLP_HEADERS: "k1=v1,k2=v2" with percent-encoded values.
func parseKeyValues(s string) ([]keyValue, error) {
	if s == "" {
		return nil, nil
	}
	var out []keyValue
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("invalid entry %q (want key=value)", item)
		}
		dv, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("entry %q: %w", item, err)
		}
		out = append(out, keyValue{key: k, value: dv})
	}
	return out, nil
}

// resourceAttributes returns the resource attributes of OTEL_RESOURCE_ATTRIBUTES
// plus service.name (OTEL_SERVICE_NAME wins, then the attribute, then
// DefaultServiceName) and service.version when given.
func resourceAttributes(e env, version string, log *slog.Logger) []attribute.KeyValue {
	kvs, err := parseKeyValues(e.get("OTEL_RESOURCE_ATTRIBUTES"))
	if err != nil {
		log.Warn("telemetry: ignoring invalid OTEL_RESOURCE_ATTRIBUTES", "err", err)
		kvs = nil
	}
	name := DefaultServiceName
	attrs := make([]attribute.KeyValue, 0, len(kvs)+2)
	for _, kv := range kvs {
		if kv.key == "service.name" {
			name = kv.value
			continue
		}
		attrs = append(attrs, attribute.String(kv.key, kv.value))
	}
	if v := e.get("OTEL_SERVICE_NAME"); v != "" {
		name = v
	}
	attrs = append(attrs, attribute.String("service.name", name))
	if version != "" {
		attrs = append(attrs, attribute.String("service.version", version))
	}
	return attrs
}

// readSampler returns the sampler named by OTEL_TRACES_SAMPLER and
// OTEL_TRACES_SAMPLER_ARG. Unknown samplers and invalid ratios are logged and
// replaced by the specification's defaults (parentbased_always_on, ratio 1).
func readSampler(e env, log *slog.Logger) sdktrace.Sampler {
	name := strings.ToLower(e.get("OTEL_TRACES_SAMPLER"))
	ratio := func() float64 {
		raw := e.get("OTEL_TRACES_SAMPLER_ARG")
		if raw == "" {
			return 1
		}
		r, err := strconv.ParseFloat(raw, 64)
		if err != nil || r < 0 || r > 1 {
			log.Warn("telemetry: invalid OTEL_TRACES_SAMPLER_ARG, using 1.0", "value", raw)
			return 1
		}
		return r
	}
	switch name {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample())
	case "always_on":
		return sdktrace.AlwaysSample()
	case "always_off":
		return sdktrace.NeverSample()
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(ratio())
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample())
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio()))
	default:
		log.Warn("telemetry: unsupported OTEL_TRACES_SAMPLER, using parentbased_always_on", "value", name)
		return sdktrace.ParentBased(sdktrace.AlwaysSample())
	}
}
