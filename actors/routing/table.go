package routing

import (
	"errors"
	"fmt"
	"maps"
)

// Kind is an exchange type whose routing this package implements. Custom exchange types are
// handled outside this package.
type Kind string

// The built-in exchange types (AMQP 0-9-1 semantics, as RabbitMQ).
const (
	Direct  Kind = "direct"
	Fanout  Kind = "fanout"
	Topic   Kind = "topic"
	Headers Kind = "headers"
)

// ErrUnknownKind is returned by [NewTable] for a kind this package does not implement.
var ErrUnknownKind = errors.New("routing: unknown exchange kind")

// Destination is where a binding routes to: a queue, or an exchange (exchange-to-exchange
// binding) when Exchange is true. It is compared with ==.
type Destination struct {
	Exchange bool
	Name     string
}

// Binding binds a destination to an exchange with a binding key and optional arguments.
// A binding is identified by its destination, key and normalised arguments.
type Binding struct {
	Destination Destination
	Key         string
	Args        map[string]any
}

// Table holds the bindings of one exchange and routes messages through them. It has a single
// owner (the exchange actor) and is not safe for concurrent use.
type Table interface {
	// Add adds a binding. Adding a binding the table already holds (same destination, key and
	// normalised arguments) changes nothing and returns added=false. It fails, leaving the
	// table unchanged, when the key or arguments are invalid for the table's kind.
	Add(b Binding) (added bool, err error)
	// Remove removes a binding and reports whether the table held it.
	Remove(b Binding) (removed bool)
	// RemoveDestination removes every binding to d (the queue or exchange was deleted) and
	// returns how many there were.
	RemoveDestination(d Destination) int
	// Match appends to dst the destinations the message routes to, each at most once, and
	// returns the extended slice. The routing key is ignored by fanout and headers tables;
	// headers looks up the message's headers (AMQP 1.0 application-properties) and is used
	// only by headers tables; it may be nil when the message has none. Destinations already in
	// dst are not looked at. The order of the appended destinations is unspecified. Match does
	// not allocate when dst has room for the result.
	Match(dst []Destination, routingKey string, headers func(key string) (any, bool)) []Destination
	// Bindings returns copies of all bindings, in the order they were added.
	Bindings() []Binding
	// Len returns the number of bindings.
	Len() int
}

// NewTable returns an empty table for an exchange of kind k.
func NewTable(k Kind) (Table, error) {
	t := &table{
		kind:  k,
		recs:  make(map[recordKey]*record),
		dests: make(map[Destination]*destRef),
	}
	switch k {
	case Direct:
		t.idx = &directIndex{keys: make(map[string]*leaf)}
	case Fanout:
		t.idx = &fanoutIndex{}
	case Topic:
		t.idx = newTopicIndex()
	case Headers:
		t.idx = &headersIndex{t: t}
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnknownKind, string(k))
	}
	return t, nil
}

// index is the kind-specific part of a table.
type index interface {
	// prepare validates a new binding and compiles what the index needs into r.
	prepare(r *record) error
	add(r *record)
	remove(r *record)
	match(dst []Destination, epoch uint64, routingKey string, headers func(string) (any, bool)) []Destination
}

// recordKey is the identity of a binding.
type recordKey struct {
	dest Destination
	key  string
	args string // canonicalArgs
}

// record is one binding held by a table. Records are chained in insertion order (for Bindings)
// and per destination (for RemoveDestination).
type record struct {
	id         recordKey
	b          Binding // Args is the table's own copy
	ref        *destRef
	prev, next *record // insertion order
	dprev      *record // same destination
	dnext      *record
	leaf       *leaf          // direct, fanout and topic: the leaf holding ref
	node       *topicNode     // topic: the trie node of the key
	hm         headersMatcher // headers: the compiled arguments
}

// destRef is a destination bound at least once in a table.
type destRef struct {
	d     Destination
	recs  *record // head of the records bound to d
	count int
	// mark is the epoch of the last Match that appended d, so each Match appends it once.
	mark uint64
}

// emit appends ref's destination to dst unless this Match (epoch) already has.
func (ref *destRef) emit(dst []Destination, epoch uint64) []Destination {
	if ref.mark == epoch {
		return dst
	}
	ref.mark = epoch
	return append(dst, ref.d)
}

type table struct {
	kind       Kind
	idx        index
	recs       map[recordKey]*record
	dests      map[Destination]*destRef
	head, tail *record
	epoch      uint64
}

func (t *table) Add(b Binding) (bool, error) {
	args, err := canonicalArgs(b.Args)
	if err != nil {
		return false, err
	}
	id := recordKey{dest: b.Destination, key: b.Key, args: args}
	if _, ok := t.recs[id]; ok {
		return false, nil
	}
	r := &record{id: id, b: Binding{Destination: b.Destination, Key: b.Key}}
	if len(b.Args) > 0 {
		r.b.Args = maps.Clone(b.Args)
	}
	if err := t.idx.prepare(r); err != nil {
		return false, err
	}
	ref := t.dests[b.Destination]
	if ref == nil {
		ref = &destRef{d: b.Destination}
		t.dests[b.Destination] = ref
	}
	r.ref = ref
	ref.count++
	r.dnext = ref.recs
	if ref.recs != nil {
		ref.recs.dprev = r
	}
	ref.recs = r
	r.prev = t.tail
	if t.tail != nil {
		t.tail.next = r
	} else {
		t.head = r
	}
	t.tail = r
	t.recs[id] = r
	t.idx.add(r)
	return true, nil
}

func (t *table) Remove(b Binding) bool {
	args, err := canonicalArgs(b.Args)
	if err != nil {
		return false
	}
	r := t.recs[recordKey{dest: b.Destination, key: b.Key, args: args}]
	if r == nil {
		return false
	}
	t.unlink(r)
	return true
}

func (t *table) RemoveDestination(d Destination) int {
	ref := t.dests[d]
	if ref == nil {
		return 0
	}
	n := 0
	for ref.recs != nil {
		t.unlink(ref.recs)
		n++
	}
	return n
}

// unlink removes r from the index and from every chain.
func (t *table) unlink(r *record) {
	t.idx.remove(r)
	delete(t.recs, r.id)
	if r.prev != nil {
		r.prev.next = r.next
	} else {
		t.head = r.next
	}
	if r.next != nil {
		r.next.prev = r.prev
	} else {
		t.tail = r.prev
	}
	ref := r.ref
	if r.dprev != nil {
		r.dprev.dnext = r.dnext
	} else {
		ref.recs = r.dnext
	}
	if r.dnext != nil {
		r.dnext.dprev = r.dprev
	}
	ref.count--
	if ref.count == 0 {
		delete(t.dests, ref.d)
	}
	*r = record{}
}

func (t *table) Match(dst []Destination, routingKey string, headers func(string) (any, bool)) []Destination {
	t.epoch++
	return t.idx.match(dst, t.epoch, routingKey, headers)
}

func (t *table) Bindings() []Binding {
	out := make([]Binding, 0, len(t.recs))
	for r := t.head; r != nil; r = r.next {
		b := r.b
		if b.Args != nil {
			b.Args = maps.Clone(b.Args)
		}
		out = append(out, b)
	}
	return out
}

func (t *table) Len() int { return len(t.recs) }
