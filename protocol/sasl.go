package protocol

// SASLFrameBody is the body of a SASL frame (frame type 0x01, spec 5.3.3):
// SASLMechanisms, SASLInit, SASLChallenge, SASLResponse or SASLOutcome.
type SASLFrameBody interface {
	Append(b []byte) ([]byte, error)
	Decode(d *Decoder) error
	saslFrameBody()
}

// SASLCode is the outcome of a SASL exchange (spec 5.3.3.6).
type SASLCode uint8

const (
	SASLOk      SASLCode = 0 // authentication succeeded
	SASLAuth    SASLCode = 1 // failed: bad credentials
	SASLSys     SASLCode = 2 // failed: system error
	SASLSysPerm SASLCode = 3 // failed: unrecoverable system error
	SASLSysTemp SASLCode = 4 // failed: transient system error
)

// AppendSASLFrame appends a whole SASL frame. The channel of SASL frames is
// ignored by the receiver (spec 5.3.1); it is written as 0.
func AppendSASLFrame(b []byte, p SASLFrameBody) ([]byte, error) {
	start := len(b)
	b, mark := BeginFrame(b, FrameTypeSASL, 0)
	b, err := p.Append(b)
	if err != nil {
		return b[:start], err
	}
	return EndFrame(b, mark), nil
}

// DecodeSASLFrameBody decodes the body of a SASL frame by its descriptor.
// SASL frames carry no payload: trailing bytes are a *DecodeError, and so is
// an empty body (SASL has no heartbeats).
func DecodeSASLFrameBody(body []byte) (SASLFrameBody, error) {
	var d Decoder
	d.Reset(body)
	code, err := peekDescriptorCode(&d)
	if err != nil {
		return nil, err
	}
	var p SASLFrameBody
	switch code {
	case DescriptorSASLMechanisms:
		p = new(SASLMechanisms)
	case DescriptorSASLInit:
		p = new(SASLInit)
	case DescriptorSASLChallenge:
		p = new(SASLChallenge)
	case DescriptorSASLResponse:
		p = new(SASLResponse)
	case DescriptorSASLOutcome:
		p = new(SASLOutcome)
	default:
		return nil, &DecodeError{Offset: 0, Msg: descriptorName(code) + " is not a SASL frame body"}
	}
	if err := p.Decode(&d); err != nil {
		return nil, err
	}
	if d.Len() != 0 {
		return nil, &DecodeError{Offset: d.Pos(), Msg: "unexpected bytes after " + descriptorName(code)}
	}
	return p, nil
}
