package routing

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// refWords splits a key into words as AMQP 0-9-1 does: the empty key has no words.
func refWords(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ".")
}

// refMatch is the straightforward recursive reference matcher the trie is checked against.
func refMatch(pattern, key []string) bool {
	if len(pattern) == 0 {
		return len(key) == 0
	}
	switch pattern[0] {
	case "#":
		return refMatch(pattern[1:], key) || (len(key) > 0 && refMatch(pattern, key[1:]))
	case "*":
		return len(key) > 0 && refMatch(pattern[1:], key[1:])
	default:
		return len(key) > 0 && key[0] == pattern[0] && refMatch(pattern[1:], key[1:])
	}
}

func topicMatches(t *testing.T, pattern, key string) bool {
	t.Helper()
	tbl := newTable(t, Topic)
	mustAdd(t, tbl, Binding{Destination: q("q"), Key: pattern})
	got := tbl.Match(nil, key, nil)
	require.LessOrEqual(t, len(got), 1)
	return len(got) == 1
}

func TestTopicPatterns(t *testing.T) {
	cases := []struct {
		pattern, key string
		match        bool
	}{
		{"a", "a", true},
		{"a", "b", false},
		{"a", "", false},
		{"a", "a.b", false},
		{"a.b", "a.b", true},
		{"a.b", "a", false},
		{"", "", true},
		{"", "a", false},
		{"", ".", false},
		{"*", "a", true},
		{"*", "", false},
		{"*", "a.b", false},
		{"*", ".", false},
		{"*.*", "a", false},
		{"*.*", "a.b", true},
		{"*.*", ".", true},
		{"*.*", "a.b.c", false},
		{"#", "", true},
		{"#", "a", true},
		{"#", "a.b.c", true},
		{"#", "..", true},
		{"#.#", "", true},
		{"#.#", "a", true},
		{"#.#", "a.b", true},
		{"#.#.#", "a.b.c.d", true},
		{"a.#", "a", true},
		{"a.#", "a.b", true},
		{"a.#", "b.a", false},
		{"#.a", "a", true},
		{"#.a", "x.y.a", true},
		{"#.a", "a.x", false},
		{"a.#.b", "a.b", true},
		{"a.#.b", "a.x.b", true},
		{"a.#.b", "a.x.y.b", true},
		{"a.#.b", "a.x.y", false},
		{"a.#.b", "b.a.b", false},
		{"a.*.#", "a", false},
		{"a.*.#", "a.b", true},
		{"a.*.#", "a.b.c.d", true},
		{"a.#.*", "a", false},
		{"a.#.*", "a.b", true},
		{"#.*", "", false},
		{"#.*", "a", true},
		{"*.#", "a.b.c", true},
		{"#.*.#", "a", true},
		{"#.*.#", "", false},
		{"#.b.#", "b", true},
		{"#.b.#", "a.b.c", true},
		{"#.b.#", "a.c", false},
		{"a..b", "a..b", true},
		{"a..b", "a.b", false},
		{"a.*.b", "a..b", true},
		{"a.#.b", "a..b", true},
		{".", ".", true},
		{".", "", false},
		{"a.", "a.", true},
		{"a.", "a", false},
		{"a.#", "a.", true},
		{"#.#.a.#.#", "a", true},
		{"#.#.a.#.#", "x.a.y.z", true},
		{"#.a.#.a.#", "a", false},
		{"#.a.#.a.#", "a.a", true},
		{"#.a.#.a.#", "x.a.y.a.z", true},
		{"a*", "a*", true},
		{"a*", "ab", false},
		{"a#", "a", false},
		{"a#", "a#", true},
		{"*", "*", true},
		{"#", "#", true},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%q~%q", c.pattern, c.key), func(t *testing.T) {
			require.Equal(t, c.match, refMatch(refWords(c.pattern), refWords(c.key)), "reference matcher")
			assert.Equal(t, c.match, topicMatches(t, c.pattern, c.key))
		})
	}
}

// TestTopicRabbitMQVectors replays the topic exchange test of RabbitMQ's unit suite.
func TestTopicRabbitMQVectors(t *testing.T) {
	bindings := []struct{ key, dest string }{
		{"a.b.c", "t1"}, {"a.*.c", "t2"}, {"a.#.b", "t3"}, {"a.b.b.c", "t4"}, {"#", "t5"},
		{"#.#", "t6"}, {"#.b", "t7"}, {"*.*", "t8"}, {"a.*", "t9"}, {"*.b.c", "t10"},
		{"a.#", "t11"}, {"a.#.#", "t12"}, {"b.b.c", "t13"}, {"a.b.b", "t14"}, {"a.b", "t15"},
		{"b.c", "t16"}, {"", "t17"}, {"*.*.*", "t18"}, {"vodka.martini", "t19"}, {"a.b.c", "t20"},
		{"*.#", "t21"}, {"#.*.#", "t22"}, {"*.#.#", "t23"}, {"#.#.#", "t24"}, {"*", "t25"},
		{"#.b.#", "t26"},
	}
	tbl := newTable(t, Topic)
	for _, b := range bindings {
		mustAdd(t, tbl, Binding{Destination: q(b.dest), Key: b.key})
	}
	// Same destination and key, different arguments: two bindings, one delivery.
	mustAdd(t, tbl, Binding{Destination: q("t27"), Key: "args-test", Args: map[string]any{"foo": "bar"}})
	mustAdd(t, tbl, Binding{Destination: q("t27"), Key: "args-test", Args: map[string]any{"foo": "baz"}})
	require.Equal(t, 28, tbl.Len())

	check := func(t *testing.T, want map[string][]string) {
		t.Helper()
		for key, exp := range want {
			assert.ElementsMatch(t, exp, names(tbl.Match(nil, key, nil)), "routing key %q", key)
		}
	}
	check(t, map[string][]string{
		"a.b.c":               {"t1", "t2", "t5", "t6", "t10", "t11", "t12", "t18", "t20", "t21", "t22", "t23", "t24", "t26"},
		"a.b":                 {"t3", "t5", "t6", "t7", "t8", "t9", "t11", "t12", "t15", "t21", "t22", "t23", "t24", "t26"},
		"a.b.b":               {"t3", "t5", "t6", "t7", "t11", "t12", "t14", "t18", "t21", "t22", "t23", "t24", "t26"},
		"":                    {"t5", "t6", "t17", "t24"},
		"b.c.c":               {"t5", "t6", "t18", "t21", "t22", "t23", "t24", "t26"},
		"a.a.a.a.a":           {"t5", "t6", "t11", "t12", "t21", "t22", "t23", "t24"},
		"vodka.gin":           {"t5", "t6", "t8", "t21", "t22", "t23", "t24"},
		"vodka.martini":       {"t5", "t6", "t8", "t19", "t21", "t22", "t23", "t24"},
		"b.b.c":               {"t5", "t6", "t10", "t13", "t18", "t21", "t22", "t23", "t24", "t26"},
		"nothing.here.at.all": {"t5", "t6", "t21", "t22", "t23", "t24"},
		"oneword":             {"t5", "t6", "t21", "t22", "t23", "t24", "t25"},
		"args-test":           {"t5", "t6", "t21", "t22", "t23", "t24", "t25", "t27"},
	})

	for _, i := range []int{0, 4, 10, 18, 20} { // t1, t5, t11, t19, t21
		b := bindings[i]
		require.True(t, tbl.Remove(Binding{Destination: q(b.dest), Key: b.key}), "remove %v", b)
	}
	check(t, map[string][]string{
		"a.b.c":               {"t2", "t6", "t10", "t12", "t18", "t20", "t22", "t23", "t24", "t26"},
		"a.b":                 {"t3", "t6", "t7", "t8", "t9", "t12", "t15", "t22", "t23", "t24", "t26"},
		"a.b.b":               {"t3", "t6", "t7", "t12", "t14", "t18", "t22", "t23", "t24", "t26"},
		"":                    {"t6", "t17", "t24"},
		"b.c.c":               {"t6", "t18", "t22", "t23", "t24", "t26"},
		"a.a.a.a.a":           {"t6", "t12", "t22", "t23", "t24"},
		"vodka.gin":           {"t6", "t8", "t22", "t23", "t24"},
		"vodka.martini":       {"t6", "t8", "t22", "t23", "t24"},
		"b.b.c":               {"t6", "t10", "t13", "t18", "t22", "t23", "t24", "t26"},
		"nothing.here.at.all": {"t6", "t22", "t23", "t24"},
		"oneword":             {"t6", "t22", "t23", "t24", "t25"},
	})

	for _, b := range tbl.Bindings() {
		require.True(t, tbl.Remove(b))
	}
	require.Zero(t, tbl.Len())
	for _, key := range []string{"a.b.c", "b.b.c", ""} {
		assert.Empty(t, tbl.Match(nil, key, nil))
	}
	ti := tbl.(*table).idx.(*topicIndex)
	assert.True(t, ti.root.unused(), "trie pruned back to an empty root")
}

func TestTopicDedupe(t *testing.T) {
	tbl := newTable(t, Topic)
	for _, k := range []string{"#", "a.#", "*.b", "a.b", "#.#"} {
		mustAdd(t, tbl, Binding{Destination: q("q1"), Key: k})
	}
	mustAdd(t, tbl, Binding{Destination: q("q2"), Key: "a.*"})
	mustAdd(t, tbl, Binding{Destination: Destination{Exchange: true, Name: "q1"}, Key: "a.b"})
	got := tbl.Match(nil, "a.b", nil)
	assert.ElementsMatch(t, []Destination{q("q1"), q("q2"), {Exchange: true, Name: "q1"}}, got)
	// A second Match starts afresh.
	assert.ElementsMatch(t, got, tbl.Match(nil, "a.b", nil))
	assert.Equal(t, []Destination{q("q1")}, tbl.Match(nil, "z", nil))
}

func TestTopicManyHashesStaysFast(t *testing.T) {
	// A backtracking matcher takes exponential time here; the automaton does not.
	tbl := newTable(t, Topic)
	pattern := strings.Repeat("#.", 20) + "z"
	mustAdd(t, tbl, Binding{Destination: q("q"), Key: pattern})
	key := strings.Repeat("a.", 200) + "y"
	assert.Empty(t, tbl.Match(nil, key, nil))
	assert.Equal(t, []string{"q"}, names(tbl.Match(nil, key+".z", nil)))
}

func TestValidateTopicKey(t *testing.T) {
	for _, ok := range []string{"", "a", "a.b", "#", "*.#", "a..b", ".", strings.Repeat("x", MaxTopicKeyLength), "ünï.cødé"} {
		assert.NoError(t, ValidateTopicKey(ok), "%q", ok)
	}
	for _, bad := range []string{strings.Repeat("x", MaxTopicKeyLength+1), "a.\xff"} {
		assert.ErrorIs(t, ValidateTopicKey(bad), ErrInvalidBindingKey, "%q", bad)
	}
	tbl := newTable(t, Topic)
	added, err := tbl.Add(Binding{Destination: q("q"), Key: "\xff"})
	assert.ErrorIs(t, err, ErrInvalidBindingKey)
	assert.False(t, added)
	assert.Zero(t, tbl.Len())
}

// fuzzWords are the words the fuzz target builds patterns and keys from.
var fuzzWords = [...]string{"a", "b", "", "*", "#", "ab"}

// decodeFuzz turns fuzz bytes into binding patterns and routing keys over a small alphabet,
// so that patterns and keys actually meet. Byte b: b%8 < 6 appends a word; 6 ends the current
// pattern; 7 ends the current key.
func decodeFuzz(data []byte) (patterns, keys []string) {
	var pat, key []string
	inKey := false
	for _, b := range data {
		switch c := b % 8; {
		case c < 6:
			w := fuzzWords[c]
			if inKey && (w == "*" || w == "#") {
				w = string(rune('c' + b/8%3)) // keys get plain words
			}
			if inKey {
				key = append(key, w)
			} else {
				pat = append(pat, w)
			}
			if b >= 128 {
				inKey = !inKey
			}
		case c == 6:
			patterns = append(patterns, strings.Join(pat, "."))
			pat = pat[:0]
		default:
			keys = append(keys, strings.Join(key, "."))
			key = key[:0]
		}
	}
	patterns = append(patterns, strings.Join(pat, "."))
	keys = append(keys, strings.Join(key, "."))
	return patterns, keys
}

func FuzzTopicMatch(f *testing.F) {
	f.Add([]byte{4, 6, 3, 6, 0, 4, 1}, "a.b")
	f.Add([]byte{4, 4, 4, 0, 6, 3, 4, 6, 2, 2}, "")
	f.Add([]byte{0, 4, 1, 6, 4, 3, 4, 128, 0, 1, 7, 2}, "a..b")
	f.Add([]byte{6, 6, 5, 130, 5, 7, 131, 4}, "#.*")
	f.Fuzz(func(t *testing.T, data []byte, rawKey string) {
		if len(data) > 256 {
			data = data[:256]
		}
		patterns, keys := decodeFuzz(data)
		keys = append(keys, rawKey)
		tbl := newTable(t, Topic)
		dest := func(i int) Destination { return q(fmt.Sprintf("q%d", i%5)) }
		for i, p := range patterns {
			if _, err := tbl.Add(Binding{Destination: dest(i), Key: p}); err != nil {
				require.ErrorIs(t, err, ErrInvalidBindingKey)
			}
		}
		bindings := tbl.Bindings()
		expect := func(key string) []Destination {
			seen := map[Destination]bool{}
			var out []Destination
			for _, b := range bindings {
				if !seen[b.Destination] && refMatch(refWords(b.Key), refWords(key)) {
					seen[b.Destination] = true
					out = append(out, b.Destination)
				}
			}
			return out
		}
		dst := make([]Destination, 0, 8)
		for _, key := range keys {
			dst = tbl.Match(dst[:0], key, nil)
			require.ElementsMatch(t, expect(key), dst, "key %q patterns %q", key, patterns)
		}
		// Remove every other binding and check again, so pruning is exercised.
		for i, b := range bindings {
			if i%2 == 0 {
				require.True(t, tbl.Remove(b))
			}
		}
		bindings = tbl.Bindings()
		for _, key := range keys {
			require.ElementsMatch(t, expect(key), tbl.Match(nil, key, nil), "after removal: key %q", key)
		}
	})
}
