package routing

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func q(name string) Destination { return Destination{Name: name} }

func newTable(t testing.TB, k Kind) Table {
	t.Helper()
	tbl, err := NewTable(k)
	require.NoError(t, err)
	return tbl
}

func mustAdd(t testing.TB, tbl Table, b Binding) {
	t.Helper()
	added, err := tbl.Add(b)
	require.NoError(t, err)
	require.True(t, added, "binding %+v already present", b)
}

// names returns the destination names, for readable assertions.
func names(ds []Destination) []string {
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.Name)
	}
	return out
}

// headerMap adapts a map to Match's header lookup.
func headerMap(m map[string]any) func(string) (any, bool) {
	return func(k string) (any, bool) {
		v, ok := m[k]
		return v, ok
	}
}
