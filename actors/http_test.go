package actors

import (
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHealthAndReadiness(t *testing.T) {
	b := startBroker(t, func(o *Options) { o.HTTPAddr = "127.0.0.1:0" })
	require.NotNil(t, b.HTTPAddr())
	for path, want := range map[string]string{"/healthz": "ok\n", "/readyz": "ready\n"} {
		resp, err := http.Get("http://" + b.HTTPAddr().String() + path)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, path)
		assert.Equal(t, want, string(body), path)
	}
}

// Options.Profiling serves net/http/pprof on the HTTP listener; without it the path is not there.
func TestProfilingIsOptIn(t *testing.T) {
	for _, on := range []bool{false, true} {
		b := startBroker(t, func(o *Options) { o.HTTPAddr = "127.0.0.1:0"; o.Profiling = on })
		resp, err := http.Get("http://" + b.HTTPAddr().String() + "/debug/pprof/goroutine?debug=1")
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if on {
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Contains(t, string(body), "goroutine profile")
		} else {
			assert.Equal(t, http.StatusNotFound, resp.StatusCode)
		}
	}
}
