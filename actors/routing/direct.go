package routing

// directIndex routes on exact equality of routing key and binding key: one map lookup.
type directIndex struct {
	keys map[string]*leaf
}

func (x *directIndex) prepare(*record) error { return nil }

func (x *directIndex) add(r *record) {
	l := x.keys[r.b.Key]
	if l == nil {
		l = &leaf{}
		x.keys[r.b.Key] = l
	}
	l.add(r.ref)
	r.leaf = l
}

func (x *directIndex) remove(r *record) {
	r.leaf.remove(r.ref)
	if r.leaf.empty() {
		delete(x.keys, r.b.Key)
	}
}

func (x *directIndex) match(dst []Destination, epoch uint64, routingKey string, _ func(string) (any, bool)) []Destination {
	if l := x.keys[routingKey]; l != nil {
		return l.appendTo(dst, epoch)
	}
	return dst
}
