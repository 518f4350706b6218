package actors

import "github.com/asynkron/protoactor-go/actor"

// byPID groups one hop's items per destination actor, in the order the destinations first appear.
// A batch has one or two destinations nearly always (the producer link of a burst, the queue of a
// consumer's settlements), so a slice with a linear search replaces the map a batch would otherwise
// allocate; kept in the sending actor, it allocates only the item slices it hands over.
type byPID[T any] struct{ groups []pidGroup[T] }

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
	g.groups = append(g.groups, pidGroup[T]{pid: pid, items: []T{item}})
}

// flush hands every group to send (which owns the items from then on) and empties g.
func (g *byPID[T]) flush(send func(pid *actor.PID, items []T)) {
	for i := range g.groups {
		send(g.groups[i].pid, g.groups[i].items)
		g.groups[i] = pidGroup[T]{}
	}
	g.groups = g.groups[:0]
}
