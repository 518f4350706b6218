package actors

import (
	"github.com/asynkron/protoactor-go/actor"
	"github.com/warren-mq/warren/protocol"
)

// inBatch gathers one read burst's transfers for one receiver link: a burst costs one hop per link.
type inBatch struct {
	pid   *actor.PID
	items []inTransfer
}

func (s *session) batchFor(pid *actor.PID) *inBatch {
	for i := range s.inBatches {
		if s.inBatches[i].pid == pid {
			return &s.inBatches[i]
		}
	}
	s.inBatches = append(s.inBatches, inBatch{pid: pid})
	return &s.inBatches[len(s.inBatches)-1]
}

func (s *session) flushLinkBatches(ctx actor.Context) {
	for i := range s.inBatches {
		if len(s.inBatches[i].items) > 0 {
			s.inHint = len(s.inBatches[i].items)
			ctx.Send(s.inBatches[i].pid, &linkTransfers{items: s.inBatches[i].items})
		}
		s.inBatches[i] = inBatch{}
	}
	s.inBatches = s.inBatches[:0]
}

// enqueueOut assigns delivery ids in order and records unsettled deliveries (spec 2.6.12).
func (s *session) enqueueOut(m *outTransfers) {
	if s.ended {
		return
	}
	if _, ok := s.links[m.handle]; !ok {
		return // detached meanwhile: the queue requeues these when the link removes its consumer
	}
	for _, d := range m.items {
		id := s.nextDeliveryID
		s.nextDeliveryID++
		if !m.settled {
			s.unsettled[id] = outUnsettled{queue: m.queue, link: m.link, qid: d.qid, handle: m.handle}
		}
		s.pending = append(s.pending, outJob{handle: m.handle, id: id, settled: m.settled, d: d})
	}
}

// pump writes waiting deliveries while the peer's incoming window allows (one unit per transfer frame,
// spec 2.5.6). A delivery larger than the peer's max-frame-size goes out as several frames with more=true.
func (s *session) pump() {
	if len(s.pending) == 0 || s.remoteIncomingWindow == 0 {
		return
	}
	maxFrame := int(s.h.peerMaxFrame)
	done := 0
	s.h.w.append(func(b []byte) []byte {
		for done < len(s.pending) && s.remoteIncomingWindow > 0 {
			j := &s.pending[done]
			if j.payload == nil {
				var ok bool
				if b, ok = s.singleFrame(b, j, maxFrame); ok {
					done++
					continue
				}
			}
			b = s.nextFragment(b, j, maxFrame)
			if j.off >= len(j.payload) {
				done++
			}
		}
		return b
	})
	n := copy(s.pending, s.pending[done:])
	clear(s.pending[n:])
	s.pending = s.pending[:n]
}

func (s *session) transferFor(j *outJob) protocol.Transfer {
	return protocol.Transfer{
		Handle:        j.handle,
		DeliveryID:    protocol.Some(j.id),
		DeliveryTag:   tagBytes(&s.tag, j.id),
		MessageFormat: protocol.Some(uint32(0)),
		Settled:       protocol.Some(j.settled),
	}
}

func (s *session) deliveryHeader(j *outJob) protocol.Header {
	h := j.d.msg.header
	h.DeliveryCount = j.d.deliveryCount
	h.FirstAcquirer = j.d.firstAcquirer
	return h
}

// singleFrame encodes the delivery straight into the writer's buffer when it fits one frame: the bare
// message is copied once, from the publisher's bytes to the socket buffer. When it does not fit it
// rolls back and leaves the encoded payload in j for nextFragment.
func (s *session) singleFrame(b []byte, j *outJob, maxFrame int) ([]byte, bool) {
	start := len(b)
	t := s.transferFor(j)
	b, mark := protocol.BeginFrame(b, protocol.FrameTypeAMQP, s.ch)
	b, err := t.Append(b)
	if err != nil {
		panic("warren: encoding transfer: " + err.Error())
	}
	payloadStart := len(b)
	h := s.deliveryHeader(j)
	ann := j.d.annotations
	if ann == nil {
		ann = j.d.msg.annotations
	}
	pm := j.d.msg.parsed()
	b, err = protocol.AppendMessageForDelivery(b, &pm, &h, ann)
	if err != nil {
		panic("warren: re-encoding a parsed message: " + err.Error())
	}
	if len(b)-start <= maxFrame {
		s.remoteIncomingWindow--
		s.nextOutgoingID++
		return protocol.EndFrame(b, mark), true
	}
	j.payload = append([]byte(nil), b[payloadStart:]...)
	return b[:start], false
}

// nextFragment writes one frame of a multi-frame delivery.
func (s *session) nextFragment(b []byte, j *outJob, maxFrame int) []byte {
	t := s.transferFor(j)
	t.More = true
	perf, err := t.Append(nil) // the performative's size decides how much payload fits
	if err != nil {
		panic("warren: encoding transfer: " + err.Error())
	}
	room := maxFrame - 8 - len(perf)
	end := min(j.off+room, len(j.payload))
	if end == len(j.payload) {
		t.More = false
	}
	var e error
	b, e = protocol.AppendTransferFrame(b, s.ch, &t, j.payload[j.off:end])
	if e != nil {
		panic("warren: encoding transfer: " + e.Error())
	}
	j.off = end
	s.remoteIncomingWindow--
	s.nextOutgoingID++
	return b
}
