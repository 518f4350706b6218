package actors

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/actors/definitions"
)

// apiTestDefinitions: an administrator with permissions on both vhosts, a management user with
// access to "/" only (configure on mgr-* only), a monitoring user without permissions, a user without
// tags, and a second vhost. guest (built in) has every permission on "/" only. The passwords are
// RabbitMQ salted SHA-256 hashes: plain ones would be bcrypt-hashed at start, slow under -race.
func apiTestDefinitions() string {
	return fmt.Sprintf(`{
  "vhosts": [{"name": "/"}, {"name": "other"}],
  "users": [
    {"name": "admin", "password_hash": %q, "tags": "administrator"},
    {"name": "mgr", "password_hash": %q, "tags": ["management"]},
    {"name": "mon", "password_hash": %q, "tags": "monitoring"},
    {"name": "app", "password_hash": %q, "tags": ""}
  ],
  "permissions": [
    {"user": "admin", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"},
    {"user": "admin", "vhost": "other", "configure": ".*", "write": ".*", "read": ".*"},
    {"user": "mgr", "vhost": "/", "configure": "mgr-.*", "write": ".*", "read": ".*"},
    {"user": "app", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}
  ]
}`, rabbitHash("secret"), rabbitHash("mpass"), rabbitHash("mon"), rabbitHash("apass"))
}

// startAPIBroker runs a broker with the HTTP API on a free loopback port.
func startAPIBroker(t *testing.T, withDefs bool) (*Broker, *apiTestClient) {
	t.Helper()
	b := startBroker(t, func(o *Options) {
		o.HTTPAddr = "127.0.0.1:0"
		if withDefs {
			d, err := definitions.Parse([]byte(apiTestDefinitions()), testLogger())
			require.NoError(t, err)
			o.Definitions = d
		}
	})
	require.NotNil(t, b.HTTPAddr())
	return b, &apiTestClient{t: t, base: "http://" + b.HTTPAddr().String(), user: "guest", pass: "guest"}
}

type apiTestClient struct {
	t          *testing.T
	base       string
	user, pass string
}

var apiHTTP = &http.Client{Timeout: 15 * time.Second}

func (c *apiTestClient) as(user, pass string) *apiTestClient {
	return &apiTestClient{t: c.t, base: c.base, user: user, pass: pass}
}

// do sends a request; body is JSON-encoded unless it is a string or nil.
func (c *apiTestClient) do(method, path string, body any) (*http.Response, []byte) {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	default:
		data, err := json.Marshal(b)
		require.NoError(c.t, err)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	require.NoError(c.t, err)
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := apiHTTP.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	return resp, data
}

// call sends a request and decodes a JSON reply into out (when out is not nil); it returns the status.
func (c *apiTestClient) call(method, path string, body, out any) int {
	c.t.Helper()
	resp, data := c.do(method, path, body)
	if out != nil && len(data) > 0 {
		require.NoError(c.t, json.Unmarshal(data, out), "%s %s: %s", method, path, data)
	}
	return resp.StatusCode
}

// expectError checks a JSON error reply: its status, its "error" name and that it has a reason.
func (c *apiTestClient) expectError(method, path string, body any, status int, name string) map[string]string {
	c.t.Helper()
	resp, data := c.do(method, path, body)
	require.Equal(c.t, status, resp.StatusCode, "%s %s: %s", method, path, data)
	require.Equal(c.t, "application/json", resp.Header.Get("Content-Type"))
	var e map[string]string
	require.NoError(c.t, json.Unmarshal(data, &e), "%s", data)
	require.Equal(c.t, name, e["error"], "%s", data)
	require.NotEmpty(c.t, e["reason"])
	return e
}

// apiFind returns the first object of list whose key equals value.
func apiFind(list []map[string]any, key string, value any) map[string]any {
	for _, m := range list {
		if m[key] == value {
			return m
		}
	}
	return nil
}
