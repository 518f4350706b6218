package protocol

// Opt is an optional field value: Set reports whether the field is present.
// It distinguishes "absent" (encoded as null) from the zero value without a
// pointer, so decoding into an Opt never allocates.
type Opt[T any] struct {
	V   T
	Set bool
}

// Some returns a set Opt holding v.
func Some[T any](v T) Opt[T] { return Opt[T]{V: v, Set: true} }

// Get returns the value and whether it is set.
func (o Opt[T]) Get() (T, bool) { return o.V, o.Set }

// Or returns the value when set, else def.
func (o Opt[T]) Or(def T) T {
	if o.Set {
		return o.V
	}
	return def
}

// Performative is the body of an AMQP frame (spec 2.7): Open, Begin, Attach,
// Flow, Transfer, Disposition, Detach, End or Close.
type Performative interface {
	Append(b []byte) ([]byte, error)
	Decode(d *Decoder) error
	performative()
}

// Role is the role of a link endpoint (spec 2.8.1).
type Role bool

const (
	RoleSender   Role = false
	RoleReceiver Role = true
)

func (r Role) String() string {
	if r == RoleReceiver {
		return "receiver"
	}
	return "sender"
}

// SenderSettleMode is the settlement policy of a sender (spec 2.8.2).
type SenderSettleMode uint8

const (
	SndUnsettled SenderSettleMode = 0 // the sender sends all deliveries unsettled
	SndSettled   SenderSettleMode = 1 // the sender sends all deliveries settled
	SndMixed     SenderSettleMode = 2 // the sender may send a mixture (the default)
)

// ReceiverSettleMode is the settlement policy of a receiver (spec 2.8.3).
type ReceiverSettleMode uint8

const (
	RcvFirst  ReceiverSettleMode = 0 // the receiver settles spontaneously (the default)
	RcvSecond ReceiverSettleMode = 1 // the receiver settles only after the sender settled
)

// DecodeFrameBody decodes the body of an AMQP frame (frame type 0x00) by its
// descriptor. For a Transfer, payload is the message data following the
// performative (spec 2.7.5); it aliases body. Other performatives carry no
// payload, and trailing bytes after them are a *DecodeError. An empty body is
// a heartbeat (spec 2.4.5): DecodeFrameBody returns a nil Performative and no
// error.
func DecodeFrameBody(body []byte) (p Performative, payload []byte, err error) {
	return decodeFrameBody(body, nil)
}

func decodeFrameBody(body []byte, a *FrameArena) (p Performative, payload []byte, err error) {
	if len(body) == 0 {
		return nil, nil, nil
	}
	var d Decoder
	d.Reset(body)
	code, err := peekDescriptorCode(&d)
	if err != nil {
		return nil, nil, err
	}
	switch code {
	case DescriptorTransfer:
		t := a.transfer()
		payload, err := t.DecodeBody(body)
		if err != nil {
			return nil, nil, err
		}
		return t, payload, nil
	// Each case calls Decode on its concrete type: through the Performative interface the
	// Decoder would escape to the heap, an allocation per frame.
	case DescriptorOpen:
		v := new(Open)
		p, err = v, v.Decode(&d)
	case DescriptorBegin:
		v := new(Begin)
		p, err = v, v.Decode(&d)
	case DescriptorAttach:
		v := new(Attach)
		p, err = v, v.Decode(&d)
	case DescriptorFlow:
		v := a.flow()
		p, err = v, v.Decode(&d)
	case DescriptorDisposition:
		v := a.disposition()
		p, err = v, v.Decode(&d)
	case DescriptorDetach:
		v := new(Detach)
		p, err = v, v.Decode(&d)
	case DescriptorEnd:
		v := new(End)
		p, err = v, v.Decode(&d)
	case DescriptorClose:
		v := new(Close)
		p, err = v, v.Decode(&d)
	default:
		return nil, nil, &DecodeError{Offset: 0, Msg: descriptorName(code) + " is not a performative"}
	}
	if err != nil {
		return nil, nil, err
	}
	if d.Len() != 0 {
		return nil, nil, &DecodeError{Offset: d.Pos(), Msg: "unexpected bytes after " + descriptorName(code)}
	}
	return p, nil, nil
}

// PeekDescriptor returns the descriptor code of the composite at the start of
// body (symbolic descriptors are mapped to their codes) without decoding it.
func PeekDescriptor(body []byte) (uint64, error) {
	var d Decoder
	d.Reset(body)
	return readDescriptorCode(&d)
}

// DecodeBody decodes a transfer frame body into t, reusing t, and returns the
// payload after the performative. It does not allocate unless the transfer
// carries a delivery state: DeliveryTag and payload alias body, so they are
// valid only as long as body is.
func (t *Transfer) DecodeBody(body []byte) (payload []byte, err error) {
	var d Decoder
	d.Reset(body)
	if err := t.Decode(&d); err != nil {
		return nil, err
	}
	return body[d.Pos():], nil
}

// AppendFrame appends a whole AMQP frame (header and performative) on channel.
// The Transfer payload, if any, goes through AppendTransferFrame instead.
func AppendFrame(b []byte, channel uint16, p Performative) ([]byte, error) {
	start := len(b)
	b, mark := BeginFrame(b, FrameTypeAMQP, channel)
	b, err := p.Append(b)
	if err != nil {
		return b[:start], err
	}
	return EndFrame(b, mark), nil
}

// AppendTransferFrame appends a whole transfer frame: header, performative and
// payload in one append. It does not allocate when b has the capacity. The
// caller keeps the frame within the negotiated max-frame-size (spec 2.7.5:
// larger messages are split over several transfers with more=true).
func AppendTransferFrame(b []byte, channel uint16, t *Transfer, payload []byte) ([]byte, error) {
	start := len(b)
	b, mark := BeginFrame(b, FrameTypeAMQP, channel)
	b, err := t.Append(b)
	if err != nil {
		return b[:start], err
	}
	b = append(b, payload...)
	return EndFrame(b, mark), nil
}
