package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// client speaks Warren's HTTP management API.
type client struct {
	base       string // e.g. http://127.0.0.1:15672, without a trailing slash
	user, pass string
	http       *http.Client
}

func newClient(base, user, pass string, timeout time.Duration) (*client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageErrorf("--url %q is not an http:// or https:// URL", base)
	}
	return &client{base: strings.TrimSuffix(base, "/"), user: user, pass: pass, http: &http.Client{Timeout: timeout}}, nil
}

// apiError is an error reply of the API: {"error": "not_found", "reason": "..."}.
type apiError struct {
	Status int    `json:"-"`
	Name   string `json:"error"`
	Reason string `json:"reason"`
}

func (e *apiError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("HTTP %d", e.Status)
	}
	return fmt.Sprintf("%s (HTTP %d %s)", e.Reason, e.Status, e.Name)
}

// path joins API path segments, percent-encoding each ("/" → "%2F", as the API wants vhosts).
func path(segs ...string) string {
	var sb strings.Builder
	sb.WriteString("/api")
	for _, s := range segs {
		sb.WriteByte('/')
		sb.WriteString(url.PathEscape(s))
	}
	return sb.String()
}

// do sends a request; body is JSON-encoded unless it is []byte. It returns the status and the raw reply
// of a 2xx answer, and an *apiError otherwise.
func (c *client) do(method, p string, body any, header map[string]string) (int, []byte, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.base+p, rd)
	if err != nil {
		return 0, nil, err
	}
	req.SetBasicAuth(c.user, c.pass)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if inner := errors.Unwrap(err); inner != nil {
			err = inner // drop net/http's "Get URL:" prefix
		}
		return 0, nil, fmt.Errorf("cannot reach the broker at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("reading the reply: %w", err)
	}
	if resp.StatusCode >= 300 {
		e := &apiError{Status: resp.StatusCode}
		if json.Unmarshal(data, e) != nil || e.Reason == "" {
			e.Reason = strings.TrimSpace(string(data))
		}
		return resp.StatusCode, nil, e
	}
	return resp.StatusCode, data, nil
}

// get decodes a JSON reply into out.
func (c *client) get(p string, out any) error {
	_, data, err := c.do(http.MethodGet, p, nil, nil)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("the reply of %s is not what warrenctl expects: %w", p, err)
	}
	return nil
}
