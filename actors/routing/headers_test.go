package routing

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHeadersMatch(t *testing.T) {
	type h = map[string]any
	cases := []struct {
		name    string
		args    h
		headers h
		match   bool
	}{
		{"all default, all present", h{"a": "1", "b": int32(2)}, h{"a": "1", "b": int64(2), "c": true}, true},
		{"all default, one missing", h{"a": "1", "b": int32(2)}, h{"a": "1"}, false},
		{"all default, one differs", h{"a": "1", "b": int32(2)}, h{"a": "1", "b": int32(3)}, false},
		{"all explicit", h{"x-match": "all", "a": "1"}, h{"a": "1"}, true},
		{"all, no args matches everything", h{"x-match": "all"}, h{}, true},
		{"all, nil args matches everything", nil, nil, true},
		{"any, one matches", h{"x-match": "any", "a": "1", "b": "2"}, h{"b": "2"}, true},
		{"any, none matches", h{"x-match": "any", "a": "1", "b": "2"}, h{"a": "2", "b": "1"}, false},
		{"any, no args matches nothing", h{"x-match": "any"}, h{"a": "1"}, false},
		{"any, only x- args matches nothing", h{"x-match": "any", "x-a": "1"}, h{"x-a": "1"}, false},
		{"all ignores x- args", h{"x-match": "all", "x-a": "1", "b": "2"}, h{"b": "2"}, true},
		{"any ignores x- args", h{"x-match": "any", "x-a": "1", "b": "2"}, h{"x-a": "1"}, false},
		{"all-with-x uses x- args", h{"x-match": "all-with-x", "x-a": "1", "b": "2"}, h{"b": "2"}, false},
		{"all-with-x all present", h{"x-match": "all-with-x", "x-a": "1", "b": "2"}, h{"b": "2", "x-a": "1"}, true},
		{"any-with-x uses x- args", h{"x-match": "any-with-x", "x-a": "1", "b": "2"}, h{"x-a": "1"}, true},
		{"any-with-x none", h{"x-match": "any-with-x", "x-a": "1"}, h{"x-a": "2"}, false},
		{"x-match never matched itself", h{"x-match": "all-with-x"}, h{}, true},
		{"void arg: present", h{"a": nil}, h{"a": "anything"}, true},
		{"void arg: present as nil", h{"a": nil}, h{"a": nil}, true},
		{"void arg: absent", h{"a": nil}, h{"b": 1}, false},
		{"void arg in any", h{"x-match": "any", "a": nil, "b": 1}, h{"a": 0}, true},
		{"non-void arg vs nil header", h{"a": "1"}, h{"a": nil}, false},
		{"numeric normalisation", h{"a": uint8(5), "b": 5.0, "c": int16(-1)}, h{"a": int64(5), "b": uint32(5), "c": -1.0}, true},
		{"string is not number", h{"a": "5"}, h{"a": 5}, false},
		{"number is not string", h{"a": 5}, h{"a": "5"}, false},
		{"float non-integral", h{"a": 1.5}, h{"a": float32(1.5)}, true},
		{"float differs", h{"a": 1.5}, h{"a": 1}, false},
		{"binary", h{"a": []byte("x")}, h{"a": []byte("x")}, true},
		{"binary is not string", h{"a": []byte("x")}, h{"a": "x"}, false},
		{"bool", h{"a": true}, h{"a": true}, true},
		{"bool is not number", h{"a": true}, h{"a": 1}, false},
		{"keys are case sensitive", h{"A": "1"}, h{"a": "1"}, false},
		{"header only in message is irrelevant", h{"a": "1"}, h{"a": "1", "z": "9"}, true},
		{"nil header lookup, all with args", h{"a": "1"}, nil, false},
		{"list", h{"a": []any{int32(1), "x"}}, h{"a": []any{int64(1), "x"}}, true},
		{"list differs", h{"a": []any{1, "x"}}, h{"a": []any{"x", 1}}, false},
		{"map", h{"a": map[string]any{"k": 1}}, h{"a": map[string]any{"k": 1.0}}, true},
		{"timestamp", h{"a": time.Unix(10, 5)}, h{"a": time.Unix(10, 5).UTC()}, true},
		{"timestamp differs", h{"a": time.Unix(10, 5)}, h{"a": time.Unix(10, 6)}, false},
		{"unsupported header value", h{"a": "1"}, h{"a": make(chan int)}, false},
		{"named string type", h{"a": "sym"}, h{"a": symbol("sym")}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tbl := newTable(t, Headers)
			mustAdd(t, tbl, Binding{Destination: q("q"), Args: c.args})
			var lookup func(string) (any, bool)
			if c.headers != nil {
				lookup = headerMap(c.headers)
			}
			got := tbl.Match(nil, "ignored", lookup)
			if c.match {
				assert.Equal(t, []Destination{q("q")}, got)
			} else {
				assert.Empty(t, got)
			}
		})
	}
}

type symbol string

func TestHeadersInvalidXMatch(t *testing.T) {
	tbl := newTable(t, Headers)
	for _, v := range []any{"ALL", "some", "", 1, nil, []byte("all")} {
		added, err := tbl.Add(Binding{Destination: q("q"), Args: map[string]any{"x-match": v}})
		assert.ErrorIs(t, err, ErrInvalidArgs, "x-match %#v", v)
		assert.False(t, added)
	}
	assert.Zero(t, tbl.Len())
	mustAdd(t, tbl, Binding{Destination: q("q"), Args: map[string]any{"x-match": symbol("any"), "a": 1}})
	assert.Len(t, tbl.Match(nil, "", headerMap(map[string]any{"a": 1})), 1)
}

func TestHeadersDedupeAndOrder(t *testing.T) {
	tbl := newTable(t, Headers)
	mustAdd(t, tbl, Binding{Destination: q("q1"), Args: map[string]any{"a": 1}})
	mustAdd(t, tbl, Binding{Destination: q("q2"), Args: map[string]any{"x-match": "any", "a": 1, "b": 2}})
	mustAdd(t, tbl, Binding{Destination: q("q1"), Args: map[string]any{"b": 2}})
	mustAdd(t, tbl, Binding{Destination: q("q1"), Key: "other-key", Args: map[string]any{"a": 1}})
	hdrs := headerMap(map[string]any{"a": 1, "b": 2})
	assert.Equal(t, []Destination{q("q1"), q("q2")}, tbl.Match(nil, "", hdrs))
	// Destinations come in the order of their first matching binding.
	assert.Equal(t, []Destination{q("q1"), q("q2")}, tbl.Match(nil, "", headerMap(map[string]any{"b": 3, "a": 1.0})))
	assert.Equal(t, []Destination{q("q2"), q("q1")}, tbl.Match(nil, "", headerMap(map[string]any{"b": 2})))
	require.Equal(t, 3, tbl.RemoveDestination(q("q1")))
	assert.Equal(t, []Destination{q("q2")}, tbl.Match(nil, "", hdrs))
}
