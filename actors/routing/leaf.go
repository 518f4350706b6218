package routing

// leafIndexThreshold is the size above which a leaf keeps a map from destination to position;
// smaller leaves are searched linearly.
const leafIndexThreshold = 16

// leaf is the set of destinations bound with one key (direct), one trie node (topic) or to the
// whole exchange (fanout). Each destination appears once, with the number of bindings that put
// it there (bindings to the same destination and key may differ by their arguments).
type leaf struct {
	refs []leafRef
	pos  map[*destRef]int // index into refs; nil while len(refs) <= leafIndexThreshold
}

type leafRef struct {
	ref *destRef
	n   int
}

func (l *leaf) find(ref *destRef) int {
	if l.pos != nil {
		if i, ok := l.pos[ref]; ok {
			return i
		}
		return -1
	}
	for i := range l.refs {
		if l.refs[i].ref == ref {
			return i
		}
	}
	return -1
}

func (l *leaf) add(ref *destRef) {
	if i := l.find(ref); i >= 0 {
		l.refs[i].n++
		return
	}
	l.refs = append(l.refs, leafRef{ref: ref, n: 1})
	switch {
	case l.pos != nil:
		l.pos[ref] = len(l.refs) - 1
	case len(l.refs) > leafIndexThreshold:
		l.pos = make(map[*destRef]int, len(l.refs))
		for i, lr := range l.refs {
			l.pos[lr.ref] = i
		}
	}
}

// remove drops one binding of ref; the destination leaves the set with its last binding.
func (l *leaf) remove(ref *destRef) {
	i := l.find(ref)
	if i < 0 {
		return
	}
	if l.refs[i].n--; l.refs[i].n > 0 {
		return
	}
	last := len(l.refs) - 1
	if i != last {
		l.refs[i] = l.refs[last]
		if l.pos != nil {
			l.pos[l.refs[i].ref] = i
		}
	}
	l.refs[last] = leafRef{}
	l.refs = l.refs[:last]
	if l.pos != nil {
		delete(l.pos, ref)
		if len(l.refs) == 0 {
			l.pos = nil
		}
	}
}

func (l *leaf) empty() bool { return len(l.refs) == 0 }

// appendTo appends the leaf's destinations that this Match (epoch) has not appended yet.
func (l *leaf) appendTo(dst []Destination, epoch uint64) []Destination {
	for _, lr := range l.refs {
		dst = lr.ref.emit(dst, epoch)
	}
	return dst
}
