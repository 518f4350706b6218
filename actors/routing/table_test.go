package routing

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var allKinds = []Kind{Direct, Fanout, Topic, Headers}

func TestNewTableUnknownKind(t *testing.T) {
	for _, k := range []Kind{"", "x-consistent-hash", "Direct"} {
		tbl, err := NewTable(k)
		assert.ErrorIs(t, err, ErrUnknownKind, "%q", k)
		assert.Nil(t, tbl)
	}
	for _, k := range allKinds {
		tbl, err := NewTable(k)
		require.NoError(t, err)
		assert.Zero(t, tbl.Len())
		assert.Empty(t, tbl.Bindings())
		assert.Empty(t, tbl.Match(nil, "k", nil))
	}
}

func TestAddRemoveIdempotent(t *testing.T) {
	for _, k := range allKinds {
		t.Run(string(k), func(t *testing.T) {
			tbl := newTable(t, k)
			b := Binding{Destination: q("q"), Key: "k", Args: map[string]any{"a": int32(5)}}
			added, err := tbl.Add(b)
			require.NoError(t, err)
			assert.True(t, added)

			// Same binding, and same after normalising the arguments.
			for _, same := range []Binding{
				b,
				{Destination: q("q"), Key: "k", Args: map[string]any{"a": int64(5)}},
				{Destination: q("q"), Key: "k", Args: map[string]any{"a": 5.0}},
			} {
				added, err = tbl.Add(same)
				require.NoError(t, err)
				assert.False(t, added, "%+v", same)
			}
			assert.Equal(t, 1, tbl.Len())

			// Different destination, key or arguments: new bindings.
			for _, other := range []Binding{
				{Destination: q("q2"), Key: "k", Args: b.Args},
				{Destination: Destination{Exchange: true, Name: "q"}, Key: "k", Args: b.Args},
				{Destination: q("q"), Key: "k2", Args: b.Args},
				{Destination: q("q"), Key: "k", Args: map[string]any{"a": "5"}},
				{Destination: q("q"), Key: "k"},
			} {
				mustAdd(t, tbl, other)
			}
			assert.Equal(t, 6, tbl.Len())

			assert.True(t, tbl.Remove(Binding{Destination: q("q"), Key: "k", Args: map[string]any{"a": uint8(5)}}))
			assert.False(t, tbl.Remove(b), "second remove")
			assert.False(t, tbl.Remove(Binding{Destination: q("nope"), Key: "k"}))
			assert.False(t, tbl.Remove(Binding{Destination: q("q"), Key: "k", Args: map[string]any{"f": func() {}}}))
			assert.Equal(t, 5, tbl.Len())

			// Nil and empty arguments are the same binding.
			assert.True(t, tbl.Remove(Binding{Destination: q("q"), Key: "k", Args: map[string]any{}}))
			assert.Equal(t, 4, tbl.Len())
		})
	}
}

func TestRemoveDestination(t *testing.T) {
	for _, k := range allKinds {
		t.Run(string(k), func(t *testing.T) {
			tbl := newTable(t, k)
			mustAdd(t, tbl, Binding{Destination: q("a"), Key: "x"})
			mustAdd(t, tbl, Binding{Destination: q("b"), Key: "x"})
			mustAdd(t, tbl, Binding{Destination: q("a"), Key: "y"})
			mustAdd(t, tbl, Binding{Destination: q("a"), Key: "x", Args: map[string]any{"v": 1}})
			mustAdd(t, tbl, Binding{Destination: Destination{Exchange: true, Name: "a"}, Key: "x"})

			assert.Equal(t, 3, tbl.RemoveDestination(q("a")))
			assert.Equal(t, 0, tbl.RemoveDestination(q("a")))
			assert.Equal(t, 0, tbl.RemoveDestination(q("never")))
			assert.Equal(t, 2, tbl.Len())
			assert.Equal(t, []Binding{
				{Destination: q("b"), Key: "x"},
				{Destination: Destination{Exchange: true, Name: "a"}, Key: "x"},
			}, tbl.Bindings())
			assert.ElementsMatch(t, []Destination{q("b"), {Exchange: true, Name: "a"}}, tbl.Match(nil, "x", nil))

			// Rebinding after removal works.
			mustAdd(t, tbl, Binding{Destination: q("a"), Key: "x"})
			assert.Len(t, tbl.Match(nil, "x", nil), 3)
		})
	}
}

func TestBindingsOrderAndCopies(t *testing.T) {
	tbl := newTable(t, Direct)
	args := map[string]any{"k": "v"}
	for _, n := range []string{"c", "a", "b", "d"} {
		mustAdd(t, tbl, Binding{Destination: q(n), Key: n, Args: args})
	}
	require.True(t, tbl.Remove(Binding{Destination: q("a"), Key: "a", Args: args}))
	mustAdd(t, tbl, Binding{Destination: q("a"), Key: "a"})
	added, err := tbl.Add(Binding{Destination: q("c"), Key: "c", Args: args})
	require.NoError(t, err)
	require.False(t, added, "re-adding keeps the original position")

	got := tbl.Bindings()
	order := make([]string, 0, len(got))
	for _, b := range got {
		order = append(order, b.Key)
	}
	assert.Equal(t, []string{"c", "b", "d", "a"}, order)
	assert.Nil(t, got[3].Args)

	// The table keeps its own copy of the arguments.
	args["k"] = "changed"
	got[0].Args["k"] = "mutated"
	assert.Equal(t, "v", tbl.Bindings()[0].Args["k"])
}

func TestAddInvalidArgs(t *testing.T) {
	cyclic := []any{nil}
	cyclic[0] = cyclic
	wide := map[string]any{}
	wide["a"], wide["b"] = wide, wide
	for _, k := range allKinds {
		tbl := newTable(t, k)
		for _, args := range []map[string]any{
			{"ch": make(chan int)},
			{"f": func() {}},
			{"cyclic": cyclic},
			{"wide": wide},
		} {
			added, err := tbl.Add(Binding{Destination: q("q"), Key: "k", Args: args})
			assert.ErrorIs(t, err, ErrInvalidArgs, "%s", k)
			assert.False(t, added)
		}
		assert.Zero(t, tbl.Len())
	}
}

func TestDirect(t *testing.T) {
	tbl := newTable(t, Direct)
	mustAdd(t, tbl, Binding{Destination: q("q1"), Key: "orders"})
	mustAdd(t, tbl, Binding{Destination: q("q2"), Key: "orders"})
	mustAdd(t, tbl, Binding{Destination: q("q1"), Key: "orders", Args: map[string]any{"x": 1}})
	mustAdd(t, tbl, Binding{Destination: q("q3"), Key: ""})
	mustAdd(t, tbl, Binding{Destination: q("q4"), Key: "a.*"})

	cases := []struct {
		key  string
		want []string
	}{
		{"orders", []string{"q1", "q2"}},
		{"Orders", nil},
		{"orders.eu", nil},
		{"", []string{"q3"}},
		{"a.*", []string{"q4"}},
		{"a.b", nil},
	}
	for _, c := range cases {
		assert.ElementsMatch(t, c.want, names(tbl.Match(nil, c.key, nil)), "key %q", c.key)
	}
	require.True(t, tbl.Remove(Binding{Destination: q("q1"), Key: "orders"}))
	assert.ElementsMatch(t, []string{"q1", "q2"}, names(tbl.Match(nil, "orders", nil)), "q1 still bound with args")
	require.True(t, tbl.Remove(Binding{Destination: q("q1"), Key: "orders", Args: map[string]any{"x": 1.0}}))
	assert.Equal(t, []string{"q2"}, names(tbl.Match(nil, "orders", nil)))
	require.True(t, tbl.Remove(Binding{Destination: q("q2"), Key: "orders"}))
	assert.Empty(t, tbl.Match(nil, "orders", nil))
	assert.NotContains(t, tbl.(*table).idx.(*directIndex).keys, "orders", "empty key entry dropped")
}

func TestFanout(t *testing.T) {
	tbl := newTable(t, Fanout)
	var want []string
	for i := range 40 { // crosses leafIndexThreshold
		n := string(rune('A' + i))
		want = append(want, n)
		mustAdd(t, tbl, Binding{Destination: q(n), Key: "ignored"})
		mustAdd(t, tbl, Binding{Destination: q(n), Key: "other"})
	}
	for _, key := range []string{"", "ignored", "anything.at.all"} {
		assert.ElementsMatch(t, want, names(tbl.Match(nil, key, nil)), "key %q", key)
	}
	for i := range 40 {
		if i%2 == 0 {
			require.True(t, tbl.Remove(Binding{Destination: q(string(rune('A' + i))), Key: "other"}))
		}
		if i%3 == 0 {
			require.Equal(t, 2-boolInt(i%2 == 0), tbl.RemoveDestination(q(string(rune('A'+i)))))
		}
	}
	var left []string
	for i := range 40 {
		if i%3 != 0 {
			left = append(left, string(rune('A'+i)))
		}
	}
	assert.ElementsMatch(t, left, names(tbl.Match(nil, "", nil)))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestMatchAppends(t *testing.T) {
	tbl := newTable(t, Fanout)
	mustAdd(t, tbl, Binding{Destination: q("q1")})
	dst := []Destination{q("q1"), q("first")}
	dst = tbl.Match(dst, "", nil)
	assert.Equal(t, []Destination{q("q1"), q("first"), q("q1")}, dst, "appends after existing entries")
}

func TestMatchDoesNotAllocate(t *testing.T) {
	hdrs := map[string]any{"format": "pdf", "size": int32(10)}
	lookup := headerMap(hdrs)
	for _, k := range allKinds {
		tbl := newTable(t, k)
		for i := range 50 {
			key := "a.b"
			if k == Topic && i%2 == 0 {
				key = "a.#"
			}
			args := map[string]any{"x-match": "any", "format": "pdf", "size": float64(i)}
			mustAdd(t, tbl, Binding{Destination: q(string(rune('A' + i%20))), Key: key, Args: args})
		}
		dst := make([]Destination, 0, 64)
		tbl.Match(dst, "a.b", lookup) // warm the scratch space
		allocs := testing.AllocsPerRun(100, func() {
			dst = tbl.Match(dst[:0], "a.b", lookup)
		})
		assert.Zero(t, allocs, "%s", k)
		assert.Len(t, dst, 20, "%s", k)
	}
}
