package protocol

import "strconv"

// Helpers shared by the generated composite codecs (composites_gen.go).
//
// A composite type is a described list (spec 1.4): the descriptor constructor
// 0x00, a numeric (ulong) or symbolic descriptor, then a list of the fields in
// order. Trailing fields may be omitted; an omitted field is null.

// readDescriptorCode reads a descriptor (constructor 0x00 and a ulong or symbol)
// and returns its numeric code. Symbolic descriptors are mapped through the
// specification's names ("amqp:open:list" → 0x10); an unknown name is a
// *DecodeError.
func readDescriptorCode(d *Decoder) (uint64, error) {
	start := d.Pos()
	code, sym, err := d.ReadDescriptor()
	if err != nil {
		return 0, err
	}
	if sym == "" {
		return code, nil
	}
	c, ok := descriptorCodes[sym]
	if !ok {
		return 0, &DecodeError{Offset: start, Msg: "unknown descriptor " + strconv.Quote(string(sym))}
	}
	return c, nil
}

// peekDescriptorCode returns the descriptor code of the described value at the
// decoder's position without consuming anything.
func peekDescriptorCode(d *Decoder) (uint64, error) {
	p := *d
	return readDescriptorCode(&p)
}

// descriptorName names a descriptor code for error messages.
func descriptorName(code uint64) string {
	if s, ok := descriptorSymbols[code]; ok {
		return s
	}
	return "descriptor 0x" + strconv.FormatUint(code, 16)
}

// readCompositeHeader reads the descriptor and list header of a composite and
// checks the descriptor is want. end is the offset just past the list.
func readCompositeHeader(d *Decoder, want uint64) (count, end int, err error) {
	start := d.Pos()
	code, err := readDescriptorCode(d)
	if err != nil {
		return 0, 0, err
	}
	if code != want {
		return 0, 0, &DecodeError{Offset: start, Msg: "expected " + descriptorName(want) + ", got " + descriptorName(code)}
	}
	return d.ReadListHeader()
}

// endComposite checks the fields consumed exactly the bytes the list header
// announced.
func endComposite(d *Decoder, end int, name string) error {
	if d.Pos() != end {
		return &DecodeError{Offset: d.Pos(), Msg: name + ": list size does not match its fields"}
	}
	return nil
}

// missingField reports a mandatory field that is absent or null.
func missingField(d *Decoder, composite, field string) error {
	return &DecodeError{Offset: d.Pos(), Msg: composite + ": mandatory field " + field + " is missing or null"}
}

func invalidValue(d *Decoder, start int, field string, v uint64) error {
	return &DecodeError{Offset: start, Msg: "invalid " + field + " " + strconv.FormatUint(v, 10)}
}

func readRole(d *Decoder) (Role, error) {
	v, err := d.ReadBool()
	return Role(v), err
}

func readSenderSettleMode(d *Decoder) (SenderSettleMode, error) {
	start := d.Pos()
	v, err := d.ReadUbyte()
	if err == nil && v > uint8(SndMixed) {
		return 0, invalidValue(d, start, "sender-settle-mode", uint64(v))
	}
	return SenderSettleMode(v), err
}

func readReceiverSettleMode(d *Decoder) (ReceiverSettleMode, error) {
	start := d.Pos()
	v, err := d.ReadUbyte()
	if err == nil && v > uint8(RcvSecond) {
		return 0, invalidValue(d, start, "receiver-settle-mode", uint64(v))
	}
	return ReceiverSettleMode(v), err
}

func readSASLCode(d *Decoder) (SASLCode, error) {
	start := d.Pos()
	v, err := d.ReadUbyte()
	if err == nil && v > uint8(SASLSysTemp) {
		return 0, invalidValue(d, start, "sasl-code", uint64(v))
	}
	return SASLCode(v), err
}

func readTerminusDurability(d *Decoder) (TerminusDurability, error) {
	start := d.Pos()
	v, err := d.ReadUint()
	if err == nil && v > uint32(DurabilityUnsettledState) {
		return 0, invalidValue(d, start, "terminus-durability", uint64(v))
	}
	return TerminusDurability(v), err
}
