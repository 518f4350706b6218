package telemetry

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
)

// envOf returns a Getenv over vars, so tests never read the process environment.
func envOf(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func setup(t *testing.T, vars map[string]string) *Telemetry {
	t.Helper()
	tel, err := Setup(context.Background(), Options{ServiceVersion: "1.2.3", Getenv: envOf(vars)})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		assert.NoError(t, tel.Shutdown(ctx))
	})
	return tel
}

func TestSetupWithoutEndpointDisablesTracing(t *testing.T) {
	for name, vars := range map[string]map[string]string{
		"empty environment":    {},
		"sdk disabled":         {"OTEL_SDK_DISABLED": "TRUE", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"},
		"traces exporter none": {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"},
		"only a sampler":       {"OTEL_TRACES_SAMPLER": "always_on"},
	} {
		t.Run(name, func(t *testing.T) {
			tel := setup(t, vars)
			assert.False(t, tel.TracingEnabled)
			assert.Nil(t, tel.tracerProvider)
			ctx, span := tel.Tracer.Start(context.Background(), "x")
			assert.False(t, span.IsRecording(), "tracer must be a no-op")
			assert.False(t, span.SpanContext().IsValid())
			span.End()
			assert.Nil(t, Inject(ctx))
			require.NotNil(t, tel.Metrics)
			require.NotNil(t, tel.Handler)
		})
	}
}

// otlpRecorder is an OTLP/HTTP collector that records each request.
type otlpRecorder struct {
	mu       sync.Mutex
	requests []recordedRequest
}

type recordedRequest struct {
	method, path, contentType, auth string
	bodyLen                         int
}

func (r *otlpRecorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.requests = append(r.requests, recordedRequest{
		method: req.Method, path: req.URL.Path, contentType: req.Header.Get("Content-Type"),
		auth: req.Header.Get("Authorization"), bodyLen: len(body),
	})
	r.mu.Unlock()
	w.Header().Set("Content-Type", req.Header.Get("Content-Type"))
	w.WriteHeader(http.StatusOK)
}

func (r *otlpRecorder) all() []recordedRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recordedRequest(nil), r.requests...)
}

func TestSetupExportsSpansOverHTTP(t *testing.T) {
	cases := []struct {
		name        string
		vars        func(url string) map[string]string
		path        string
		contentType string
	}{
		{
			name:        "generic endpoint, default protocol",
			vars:        func(u string) map[string]string { return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": u + "/"} },
			path:        "/v1/traces",
			contentType: "application/x-protobuf",
		},
		{
			name: "traces endpoint used as is, headers",
			vars: func(u string) map[string]string {
				return map[string]string{
					"OTEL_EXPORTER_OTLP_ENDPOINT":        "http://127.0.0.1:1",
					"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": u + "/custom/traces",
					"OTEL_EXPORTER_OTLP_PROTOCOL":        "http/protobuf",
					"OTEL_EXPORTER_OTLP_HEADERS":         "Authorization=Bearer%20s3cret",
				}
			},
			path:        "/custom/traces",
			contentType: "application/x-protobuf",
		},
		{
			name: "http/json",
			vars: func(u string) map[string]string {
				return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": u, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"}
			},
			path:        "/v1/traces",
			contentType: "application/json",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &otlpRecorder{}
			srv := httptest.NewServer(rec)
			defer srv.Close()

			tel, err := Setup(context.Background(), Options{Getenv: envOf(tc.vars(srv.URL))})
			require.NoError(t, err)
			require.True(t, tel.TracingEnabled)

			_, span := tel.StartSpan(context.Background(), "publish", OpReceive, "amq.topic:a.b", MessageInfo{MessageID: "m1", BodySize: 3})
			require.True(t, span.IsRecording())
			span.End()

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			require.NoError(t, tel.Shutdown(ctx))

			reqs := rec.all()
			require.NotEmpty(t, reqs, "no export request arrived")
			assert.Equal(t, http.MethodPost, reqs[0].method)
			assert.Equal(t, tc.path, reqs[0].path)
			assert.Equal(t, tc.contentType, reqs[0].contentType)
			assert.Positive(t, reqs[0].bodyLen)
			if strings.Contains(tc.name, "headers") {
				assert.Equal(t, "Bearer s3cret", reqs[0].auth)
			}
		})
	}
}

// traceCollector is an OTLP/gRPC collector counting exported spans.
type traceCollector struct {
	collectortrace.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans int
}

func (c *traceCollector) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			c.spans += len(ss.GetSpans())
		}
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

func TestSetupExportsSpansOverGRPC(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	coll := &traceCollector{}
	srv := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(srv, coll)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	tel, err := Setup(context.Background(), Options{Getenv: envOf(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + lis.Addr().String(),
		"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
	})})
	require.NoError(t, err)
	require.True(t, tel.TracingEnabled)
	for range 3 {
		_, span := tel.StartSpan(context.Background(), "deliver", OpSend, "q1", MessageInfo{})
		span.End()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, tel.Shutdown(ctx))
	coll.mu.Lock()
	defer coll.mu.Unlock()
	assert.Equal(t, 3, coll.spans)
}

func TestSetupRejectsBadConfiguration(t *testing.T) {
	for name, vars := range map[string]map[string]string{
		"unknown protocol": {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "carrier-pigeon"},
		"bad scheme":       {"OTEL_EXPORTER_OTLP_ENDPOINT": "ftp://collector:4318"},
		"no host":          {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http:///v1/traces"},
		"bad headers":      {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_HEADERS": "novalue"},
	} {
		t.Run(name, func(t *testing.T) {
			tel, err := Setup(context.Background(), Options{Getenv: envOf(vars)})
			assert.Error(t, err)
			assert.Nil(t, tel)
		})
	}
}

func TestReadExportConfig(t *testing.T) {
	log := discardLogger()
	cases := []struct {
		vars     map[string]string
		endpoint string
		protocol string
	}{
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, "http://c:4318/v1/traces", ProtocolHTTPProtobuf},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://c/otlp/"}, "https://c/otlp/v1/traces", ProtocolHTTPProtobuf},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "c:4318"}, "https://c:4318/v1/traces", ProtocolHTTPProtobuf},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "c:4318", "OTEL_EXPORTER_OTLP_INSECURE": "true"}, "http://c:4318/v1/traces", ProtocolHTTPProtobuf},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "GRPC"}, "http://c:4317", ProtocolGRPC},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/x"}, "http://c:4318/x", ProtocolHTTPProtobuf},
	}
	for _, tc := range cases {
		c, err := readExportConfig(env(envOf(tc.vars)), log)
		require.NoError(t, err)
		assert.True(t, c.enabled)
		assert.Equal(t, tc.endpoint, c.endpointURL, "%v", tc.vars)
		assert.Equal(t, tc.protocol, c.protocol, "%v", tc.vars)
	}

	c, err := readExportConfig(env(envOf(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT":            "http://c:4318",
		"OTEL_EXPORTER_OTLP_TIMEOUT":             "2500",
		"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION":  "gzip",
		"OTEL_EXPORTER_OTLP_TRACES_HEADERS":      "a=1, b = x%2Cy ",
		"OTEL_EXPORTER_OTLP_HEADERS":             "ignored=1",
		"OTEL_EXPORTER_OTLP_TRACES_INSECURE":     "false",
		"OTEL_EXPORTER_OTLP_METRICS_COMPRESSION": "none",
	})), log)
	require.NoError(t, err)
	assert.Equal(t, 2500*time.Millisecond, c.timeout)
	assert.True(t, c.gzip)
	assert.Equal(t, map[string]string{"a": "1", "b": "x,y"}, c.headers)
}

func TestReadSampler(t *testing.T) {
	const parentOn = "ParentBased{root:AlwaysOnSampler,remoteParentSampled:AlwaysOnSampler,remoteParentNotSampled:AlwaysOffSampler,localParentSampled:AlwaysOnSampler,localParentNotSampled:AlwaysOffSampler}"
	cases := []struct {
		sampler, arg, want string
	}{
		{"", "", parentOn},
		{"parentbased_always_on", "", parentOn},
		{"always_on", "", "AlwaysOnSampler"},
		{"ALWAYS_OFF", "", "AlwaysOffSampler"},
		{"traceidratio", "0.25", "TraceIDRatioBased{0.25}"},
		{"traceidratio", "", "TraceIDRatioBased{1}"},
		{"traceidratio", "1.5", "TraceIDRatioBased{1}"},
		{"traceidratio", "abc", "TraceIDRatioBased{1}"},
		{"parentbased_always_off", "", "ParentBased{root:AlwaysOffSampler,"},
		{"parentbased_traceidratio", "0.5", "ParentBased{root:TraceIDRatioBased{0.5},"},
		{"jaeger_remote", "", parentOn},
	}
	for _, tc := range cases {
		s := readSampler(env(envOf(map[string]string{"OTEL_TRACES_SAMPLER": tc.sampler, "OTEL_TRACES_SAMPLER_ARG": tc.arg})), discardLogger())
		assert.True(t, strings.HasPrefix(s.Description(), tc.want), "%s/%s: got %s", tc.sampler, tc.arg, s.Description())
	}
}

func TestSetupSamplerApplies(t *testing.T) {
	rec := &otlpRecorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	tel := setup(t, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL, "OTEL_TRACES_SAMPLER": "always_off"})
	require.True(t, tel.TracingEnabled)
	_, span := tel.StartSpan(context.Background(), "publish", OpReceive, "x", MessageInfo{})
	assert.False(t, span.IsRecording())
	span.End()
}

func TestResourceAttributes(t *testing.T) {
	tel := setup(t, map[string]string{
		"OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attrs,deployment.environment=test%20env",
	})
	body := scrape(t, tel)
	assert.Contains(t, body, `service_name="from-attrs"`)
	assert.Contains(t, body, `deployment_environment="test env"`)
	assert.Contains(t, body, `service_version="1.2.3"`)

	tel = setup(t, map[string]string{"OTEL_SERVICE_NAME": "broker-7", "OTEL_RESOURCE_ATTRIBUTES": "service.name=x"})
	assert.Contains(t, scrape(t, tel), `service_name="broker-7"`)

	tel = setup(t, map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "garbage"})
	assert.Contains(t, scrape(t, tel), `service_name="warren"`)
}

func TestShutdownTwice(t *testing.T) {
	tel, err := Setup(context.Background(), Options{Getenv: envOf(nil)})
	require.NoError(t, err)
	require.NoError(t, tel.Shutdown(context.Background()))
	require.NoError(t, tel.Shutdown(context.Background()))
}
