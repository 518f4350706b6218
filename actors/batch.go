package actors

import "github.com/asynkron/protoactor-go/actor"

// byPID groups one hop's items per destination actor, in the order the destinations first appear.
// A batch has one or two destinations nearly always (the producer link of a burst, the queue of a
// consumer's settlements), so a slice with a linear search replaces the map a batch would otherwise
// allocate; kept in the sending actor, it allocates only the item slices it hands over.
type byPID[T any] struct {
	groups []pidGroup[T]
	hint   int // the length of the last group handed over (appendSized)
}

// appendSized appends item to s, a batch that is handed to another actor when full (so never
// reused): a new batch starts with the capacity of the last one, hint, instead of growing by
// doubling through several allocations. Consecutive batches of one workload are alike in size.
func appendSized[T any](s []T, item T, hint int) []T {
	if s == nil {
		s = make([]T, 0, max(hint, 1))
	}
	return append(s, item)
}

type pidGroup[T any] struct {
	pid   *actor.PID
	items []T
}

func (g *byPID[T]) add(pid *actor.PID, item T) {
	for i := range g.groups {
		if g.groups[i].pid == pid {
			g.groups[i].items = append(g.groups[i].items, item)
			return
		}
	}
	g.groups = append(g.groups, pidGroup[T]{pid: pid, items: appendSized(nil, item, g.hint)})
}

// flush hands every group to send (which owns the items from then on) and empties g.
func (g *byPID[T]) flush(send func(pid *actor.PID, items []T)) {
	for i := range g.groups {
		g.hint = len(g.groups[i].items)
		send(g.groups[i].pid, g.groups[i].items)
		g.groups[i] = pidGroup[T]{}
	}
	g.groups = g.groups[:0]
}
