package routing

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxTopicKeyLength is the longest topic binding key accepted, in bytes: the AMQP 0-9-1
// shortstr limit, which RabbitMQ applies to binding keys.
const MaxTopicKeyLength = 255

// ErrInvalidBindingKey reports a binding key refused by [ValidateTopicKey].
var ErrInvalidBindingKey = errors.New("routing: invalid binding key")

// ValidateTopicKey checks a topic binding key: valid UTF-8 of at most MaxTopicKeyLength bytes.
// Every such string is a pattern: words are separated by '.', empty words are allowed, and only
// a whole word "*" or "#" is a wildcard ("a*" is a literal word).
func ValidateTopicKey(key string) error {
	if len(key) > MaxTopicKeyLength {
		return fmt.Errorf("%w: %d bytes, more than %d", ErrInvalidBindingKey, len(key), MaxTopicKeyLength)
	}
	if !utf8.ValidString(key) {
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidBindingKey)
	}
	return nil
}

// nextWord splits the first word off a non-empty key; more reports whether a '.' followed it.
func nextWord(key string) (word, rest string, more bool) {
	if i := strings.IndexByte(key, '.'); i >= 0 {
		return key[:i], key[i+1:], true
	}
	return key, "", false
}

type edgeKind uint8

const (
	edgeRoot edgeKind = iota
	edgeWord
	edgeStar
	edgeHash
)

// topicNode is a node of the trie of binding keys. The path from the root spells a binding key
// word by word; the leaf holds the destinations bound with exactly that key.
type topicNode struct {
	parent   *topicNode
	edge     edgeKind // how parent reaches this node
	word     string   // the word, when edge is edgeWord
	children map[string]*topicNode
	star     *topicNode // child for the word "*"
	hash     *topicNode // child for the word "#"
	leaf     leaf
	mark     uint64 // generation of the state set this node was last added to
}

func (n *topicNode) unused() bool {
	return n.leaf.empty() && len(n.children) == 0 && n.star == nil && n.hash == nil
}

// topicIndex matches routing keys against the trie as a non-deterministic automaton: the state
// is the set of trie nodes reachable after the words read so far. A "#" node consumes any word
// and stays, and is also reachable without consuming one. Each node enters a state set at most
// once, so matching costs O(words x nodes) however many "#" a key has, where a backtracking
// matcher can go exponential.
type topicIndex struct {
	root topicNode
	// gen numbers the state sets; cur and next are scratch reused by every Match.
	gen       uint64
	cur, next []*topicNode
}

func newTopicIndex() *topicIndex { return &topicIndex{} }

func (x *topicIndex) prepare(r *record) error { return ValidateTopicKey(r.b.Key) }

func (x *topicIndex) add(r *record) {
	n := &x.root
	for key, more := r.b.Key, r.b.Key != ""; more; {
		var w string
		w, key, more = nextWord(key)
		n = n.child(w)
	}
	n.leaf.add(r.ref)
	r.node = n
	r.leaf = &n.leaf
}

// child returns the child for word w, creating it when missing.
func (n *topicNode) child(w string) *topicNode {
	switch w {
	case "*":
		if n.star == nil {
			n.star = &topicNode{parent: n, edge: edgeStar}
		}
		return n.star
	case "#":
		if n.hash == nil {
			n.hash = &topicNode{parent: n, edge: edgeHash}
		}
		return n.hash
	}
	c := n.children[w]
	if c == nil {
		c = &topicNode{parent: n, edge: edgeWord, word: w}
		if n.children == nil {
			n.children = make(map[string]*topicNode)
		}
		n.children[w] = c
	}
	return c
}

// remove drops the binding and prunes the nodes no binding uses any more.
func (x *topicIndex) remove(r *record) {
	n := r.node
	n.leaf.remove(r.ref)
	for n != &x.root && n.unused() {
		p := n.parent
		switch n.edge {
		case edgeWord:
			delete(p.children, n.word)
			if len(p.children) == 0 {
				p.children = nil
			}
		case edgeStar:
			p.star = nil
		case edgeHash:
			p.hash = nil
		}
		n.parent = nil
		n = p
	}
}

// addState adds n to the state set, with the "#" nodes reachable from it without consuming a
// word ("#" matches zero words). A node already in the set has its "#" chain there too.
func (x *topicIndex) addState(set []*topicNode, n *topicNode) []*topicNode {
	for ; n != nil && n.mark != x.gen; n = n.hash {
		n.mark = x.gen
		set = append(set, n)
	}
	return set
}

func (x *topicIndex) match(dst []Destination, epoch uint64, routingKey string, _ func(string) (any, bool)) []Destination {
	x.gen++
	cur := x.addState(x.cur[:0], &x.root)
	next := x.next[:0]
	for key, more := routingKey, routingKey != ""; more && len(cur) > 0; {
		var w string
		w, key, more = nextWord(key)
		x.gen++
		next = next[:0]
		for _, n := range cur {
			if n.edge == edgeHash {
				next = x.addState(next, n)
			}
			if c := n.children[w]; c != nil {
				next = x.addState(next, c)
			}
			if n.star != nil {
				next = x.addState(next, n.star)
			}
		}
		cur, next = next, cur
	}
	for _, n := range cur {
		dst = n.leaf.appendTo(dst, epoch)
	}
	clear(cur)
	clear(next)
	x.cur, x.next = cur[:0], next[:0]
	return dst
}
