package protocol

// DeliveryState is the state of a delivery at an endpoint (spec 2.6.12,
// 3.4): *Received, *Accepted, *Rejected, *Released, *Modified, and for
// transactions *Declared and *TransactionalState. The terminal ones are the
// outcomes; Source.DefaultOutcome holds one of those.
type DeliveryState interface {
	Append(b []byte) ([]byte, error)
	deliveryState()
}

// readDeliveryState decodes a delivery-state field by its descriptor. An
// unknown descriptor is a *DecodeError. Decoding *Accepted and *Released does
// not allocate (they are empty structs).
func readDeliveryState(d *Decoder) (DeliveryState, error) {
	start := d.Pos()
	code, err := peekDescriptorCode(d)
	if err != nil {
		return nil, err
	}
	switch code {
	case DescriptorAccepted:
		s := &Accepted{}
		return s, s.Decode(d)
	case DescriptorReleased:
		s := &Released{}
		return s, s.Decode(d)
	case DescriptorRejected:
		s := &Rejected{}
		return s, s.Decode(d)
	case DescriptorModified:
		s := &Modified{}
		return s, s.Decode(d)
	case DescriptorReceived:
		s := &Received{}
		return s, s.Decode(d)
	case DescriptorDeclared:
		s := &Declared{}
		return s, s.Decode(d)
	case DescriptorTransactionalState:
		s := &TransactionalState{}
		return s, s.Decode(d)
	}
	return nil, &DecodeError{Offset: start, Msg: descriptorName(code) + " is not a delivery state"}
}

// DecodeDeliveryState decodes one delivery state (a described list such as
// accepted or rejected) from the start of b.
func DecodeDeliveryState(b []byte) (DeliveryState, error) {
	var d Decoder
	d.Reset(b)
	return readDeliveryState(&d)
}

// IsTerminal reports whether s is an outcome that ends a delivery (spec 3.4:
// accepted, rejected, released, modified; declared for transactions).
func IsTerminal(s DeliveryState) bool {
	switch s.(type) {
	case *Accepted, *Rejected, *Released, *Modified, *Declared:
		return true
	}
	return false
}
