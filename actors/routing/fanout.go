package routing

// fanoutIndex routes every message to every bound destination; keys are ignored.
type fanoutIndex struct {
	all leaf
}

func (x *fanoutIndex) prepare(*record) error { return nil }

func (x *fanoutIndex) add(r *record) {
	x.all.add(r.ref)
	r.leaf = &x.all
}

func (x *fanoutIndex) remove(r *record) { x.all.remove(r.ref) }

func (x *fanoutIndex) match(dst []Destination, epoch uint64, _ string, _ func(string) (any, bool)) []Destination {
	return x.all.appendTo(dst, epoch)
}
