package protocol

// arenaBlock is how many performatives of one kind a FrameArena allocates at once. A block stays in
// memory while any of its values is referenced, so it is kept small: 16 transfers are about 1.5 KiB.
const arenaBlock = 16

// FrameArena hands out the transfers, flows and dispositions that DecodeFrameBody would allocate one
// by one, from blocks of arenaBlock values: a connection's reader decoding a burst of transfers
// then allocates once per 16 frames instead of once per frame (issue 10: these were 2 of the ~9
// allocations per confirmed message). The other performatives are rare and allocated singly.
//
// Values are never handed out twice and never reused: a decoded performative belongs to the caller
// like one from DecodeFrameBody, and may be passed to another goroutine. The arena itself is not
// safe for concurrent use; the zero value is ready.
//
// Hand-written because it is a hot-path allocation pattern specific to this decoder; sync.Pool
// does not fit, since the values leave the reader and are never returned to it.
type FrameArena struct {
	transfers    []Transfer
	flows        []Flow
	dispositions []Disposition
}

// DecodeFrameBody is DecodeFrameBody, with transfers, flows and dispositions taken from the arena.
func (a *FrameArena) DecodeFrameBody(body []byte) (p Performative, payload []byte, err error) {
	return decodeFrameBody(body, a)
}

// take returns the next unused value of *block, starting a new block when it is used up.
func take[T any](block *[]T) *T {
	if len(*block) == cap(*block) {
		*block = make([]T, 0, arenaBlock)
	}
	*block = (*block)[:len(*block)+1]
	return &(*block)[len(*block)-1]
}

// A nil arena allocates each value on its own (the package-level DecodeFrameBody).

func (a *FrameArena) transfer() *Transfer {
	if a == nil {
		return new(Transfer)
	}
	return take(&a.transfers)
}

func (a *FrameArena) flow() *Flow {
	if a == nil {
		return new(Flow)
	}
	return take(&a.flows)
}

func (a *FrameArena) disposition() *Disposition {
	if a == nil {
		return new(Disposition)
	}
	return take(&a.dispositions)
}
