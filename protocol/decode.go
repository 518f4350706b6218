package protocol

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
	"unicode/utf8"
)

// MaxNestingDepth bounds how deeply lists, maps, arrays and described values may
// nest, on decode and on encode. Deeper input is a *DecodeError, so hostile
// input cannot exhaust the stack.
const MaxNestingDepth = 64

// maxZeroWidthElems bounds how many zero-width array elements (arrays whose
// element constructor is null, true, false, uint0, ulong0 or list0 carry no
// bytes per element) one Decoder materialises between Resets. Such elements
// cost no input bytes, so without a bound a 10-byte array32 could claim 2^32
// elements.
const maxZeroWidthElems = 4096

// Decoder reads AMQP-encoded values from a byte slice. The zero value is an
// empty decoder; Reset points it at new input without allocating.
//
// Every malformed input yields a *DecodeError; the decoder never panics, and it
// checks every declared size and count against the bytes left before it
// allocates anything for them. Typed readers (ReadUint, ReadString, ...) accept
// every encoding width of their type and reject null: callers of optional
// fields check ReadNull first.
type Decoder struct {
	buf       []byte
	pos       int
	depth     int
	zeroWidth int
}

// NewDecoder returns a decoder reading b.
func NewDecoder(b []byte) *Decoder {
	d := &Decoder{}
	d.Reset(b)
	return d
}

// Reset makes d read b from its start.
func (d *Decoder) Reset(b []byte) {
	*d = Decoder{buf: b}
}

// Pos returns the offset of the next byte to read.
func (d *Decoder) Pos() int { return d.pos }

// Len returns the number of bytes left (within the current compound value when
// called from inside one).
func (d *Decoder) Len() int { return len(d.buf) - d.pos }

func (d *Decoder) errorf(offset int, format string, args ...any) error {
	return &DecodeError{Offset: offset, Msg: fmt.Sprintf(format, args...)}
}

func (d *Decoder) truncated(need uint64) error {
	return d.errorf(d.pos, "need %d bytes, %d left", need, len(d.buf)-d.pos)
}

// wrongCode reports a constructor that does not encode the wanted type; the
// constructor byte has already been consumed.
func (d *Decoder) wrongCode(code byte, want string) error {
	return d.errorf(d.pos-1, "constructor %#02x is not %s", code, want)
}

// PeekCode returns the next constructor byte without consuming it.
func (d *Decoder) PeekCode() (byte, error) {
	if d.pos >= len(d.buf) {
		return 0, d.truncated(1)
	}
	return d.buf[d.pos], nil
}

func (d *Decoder) readCode() (byte, error) {
	if d.pos >= len(d.buf) {
		return 0, d.truncated(1)
	}
	c := d.buf[d.pos]
	d.pos++
	return c, nil
}

// take consumes n bytes and returns them, aliasing the input (capacity capped
// so appends never write into the input).
func (d *Decoder) take(n uint64) ([]byte, error) {
	if n > uint64(len(d.buf)-d.pos) {
		return nil, d.truncated(n)
	}
	p := d.pos
	d.pos += int(n)
	return d.buf[p:d.pos:d.pos], nil
}

func (d *Decoder) take1() (byte, error) {
	if d.pos >= len(d.buf) {
		return 0, d.truncated(1)
	}
	c := d.buf[d.pos]
	d.pos++
	return c, nil
}

func (d *Decoder) take2() (uint16, error) {
	b, err := d.take(2)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint16(b), nil
}

func (d *Decoder) take4() (uint32, error) {
	b, err := d.take(4)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(b), nil
}

func (d *Decoder) take8() (uint64, error) {
	b, err := d.take(8)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(b), nil
}

// ReadNull consumes a null if one is next and reports whether it was null.
func (d *Decoder) ReadNull() (bool, error) {
	c, err := d.PeekCode()
	if err != nil {
		return false, err
	}
	if c != TypeNull {
		return false, nil
	}
	d.pos++
	return true, nil
}

// Body readers: the constructor has been consumed; they read the payload of
// one value of their type, for every width of the type. Array decoding uses
// them for element payloads too.

func (d *Decoder) boolBody(code byte) (bool, error) {
	switch code {
	case TypeBoolTrue:
		return true, nil
	case TypeBoolFalse:
		return false, nil
	case TypeBool:
		c, err := d.take1()
		if err != nil {
			return false, err
		}
		// 1.6.2: 0x00 is false, 0x01 is true; anything else is malformed.
		if c > 1 {
			return false, d.errorf(d.pos-1, "boolean octet %#02x is neither 0 nor 1", c)
		}
		return c == 1, nil
	}
	return false, d.wrongCode(code, "boolean")
}

func (d *Decoder) ubyteBody(code byte) (uint8, error) {
	if code != TypeUbyte {
		return 0, d.wrongCode(code, "ubyte")
	}
	return d.take1()
}

func (d *Decoder) ushortBody(code byte) (uint16, error) {
	if code != TypeUshort {
		return 0, d.wrongCode(code, "ushort")
	}
	return d.take2()
}

func (d *Decoder) uintBody(code byte) (uint32, error) {
	switch code {
	case TypeUint0:
		return 0, nil
	case TypeSmallUint:
		c, err := d.take1()
		return uint32(c), err
	case TypeUint:
		return d.take4()
	}
	return 0, d.wrongCode(code, "uint")
}

func (d *Decoder) ulongBody(code byte) (uint64, error) {
	switch code {
	case TypeUlong0:
		return 0, nil
	case TypeSmallUlong:
		c, err := d.take1()
		return uint64(c), err
	case TypeUlong:
		return d.take8()
	}
	return 0, d.wrongCode(code, "ulong")
}

func (d *Decoder) byteBody(code byte) (int8, error) {
	if code != TypeByte {
		return 0, d.wrongCode(code, "byte")
	}
	c, err := d.take1()
	return int8(c), err
}

func (d *Decoder) shortBody(code byte) (int16, error) {
	if code != TypeShort {
		return 0, d.wrongCode(code, "short")
	}
	v, err := d.take2()
	return int16(v), err
}

func (d *Decoder) intBody(code byte) (int32, error) {
	switch code {
	case TypeSmallInt:
		c, err := d.take1()
		return int32(int8(c)), err
	case TypeInt:
		v, err := d.take4()
		return int32(v), err
	}
	return 0, d.wrongCode(code, "int")
}

func (d *Decoder) longBody(code byte) (int64, error) {
	switch code {
	case TypeSmallLong:
		c, err := d.take1()
		return int64(int8(c)), err
	case TypeLong:
		v, err := d.take8()
		return int64(v), err
	}
	return 0, d.wrongCode(code, "long")
}

func (d *Decoder) floatBody(code byte) (float32, error) {
	if code != TypeFloat {
		return 0, d.wrongCode(code, "float")
	}
	v, err := d.take4()
	return math.Float32frombits(v), err
}

func (d *Decoder) doubleBody(code byte) (float64, error) {
	if code != TypeDouble {
		return 0, d.wrongCode(code, "double")
	}
	v, err := d.take8()
	return math.Float64frombits(v), err
}

func (d *Decoder) decimal32Body(code byte) (v Decimal32, err error) {
	if code != TypeDecimal32 {
		return v, d.wrongCode(code, "decimal32")
	}
	b, err := d.take(uint64(len(v)))
	copy(v[:], b)
	return v, err
}

func (d *Decoder) decimal64Body(code byte) (v Decimal64, err error) {
	if code != TypeDecimal64 {
		return v, d.wrongCode(code, "decimal64")
	}
	b, err := d.take(uint64(len(v)))
	copy(v[:], b)
	return v, err
}

func (d *Decoder) decimal128Body(code byte) (v Decimal128, err error) {
	if code != TypeDecimal128 {
		return v, d.wrongCode(code, "decimal128")
	}
	b, err := d.take(uint64(len(v)))
	copy(v[:], b)
	return v, err
}

func (d *Decoder) charBody(code byte) (Char, error) {
	if code != TypeChar {
		return 0, d.wrongCode(code, "char")
	}
	v, err := d.take4()
	if err != nil {
		return 0, err
	}
	// 1.6.16: a single Unicode character; surrogates and values past U+10FFFF are not.
	if v > math.MaxInt32 || !utf8.ValidRune(rune(v)) {
		return 0, d.errorf(d.pos-4, "invalid char code point %#x", v)
	}
	return Char(v), nil
}

func (d *Decoder) timestampBody(code byte) (time.Time, error) {
	if code != TypeTimestamp {
		return time.Time{}, d.wrongCode(code, "timestamp")
	}
	v, err := d.take8()
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(int64(v)).UTC(), nil
}

func (d *Decoder) uuidBody(code byte) (v UUID, err error) {
	if code != TypeUUID {
		return v, d.wrongCode(code, "uuid")
	}
	b, err := d.take(uint64(len(v)))
	copy(v[:], b)
	return v, err
}

// varBody reads the length-prefixed payload of a variable-width value; short
// is the code of the 1-byte-length form, long of the 4-byte form.
func (d *Decoder) varBody(code, short, long byte, want string) ([]byte, error) {
	var n uint64
	switch code {
	case short:
		c, err := d.take1()
		if err != nil {
			return nil, err
		}
		n = uint64(c)
	case long:
		v, err := d.take4()
		if err != nil {
			return nil, err
		}
		n = uint64(v)
	default:
		return nil, d.wrongCode(code, want)
	}
	return d.take(n)
}

func (d *Decoder) binaryBody(code byte) ([]byte, error) {
	b, err := d.varBody(code, TypeVbin8, TypeVbin32, "binary")
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(b)) // non-nil even when empty: binary, not null
	copy(out, b)
	return out, nil
}

func (d *Decoder) stringBody(code byte) (string, error) {
	b, err := d.varBody(code, TypeStr8, TypeStr32, "string")
	if err != nil {
		return "", err
	}
	if !utf8.Valid(b) {
		return "", d.errorf(d.pos-len(b), "string is not valid UTF-8")
	}
	return string(b), nil
}

func (d *Decoder) symbolBody(code byte) (Symbol, error) {
	b, err := d.varBody(code, TypeSym8, TypeSym32, "symbol")
	if err != nil {
		return "", err
	}
	// 1.6.21: symbols are ASCII.
	for i, c := range b {
		if c >= utf8.RuneSelf {
			return "", d.errorf(d.pos-len(b)+i, "symbol byte %#02x is not ASCII", c)
		}
	}
	return Symbol(b), nil
}

// ReadBool reads a boolean (0x41, 0x42 or 0x56).
func (d *Decoder) ReadBool() (bool, error) {
	code, err := d.readCode()
	if err != nil {
		return false, err
	}
	return d.boolBody(code)
}

// ReadUbyte reads a ubyte.
func (d *Decoder) ReadUbyte() (uint8, error) {
	code, err := d.readCode()
	if err != nil {
		return 0, err
	}
	return d.ubyteBody(code)
}

// ReadUshort reads a ushort.
func (d *Decoder) ReadUshort() (uint16, error) {
	code, err := d.readCode()
	if err != nil {
		return 0, err
	}
	return d.ushortBody(code)
}

// ReadUint reads a uint in any width (uint0, smalluint, uint).
func (d *Decoder) ReadUint() (uint32, error) {
	code, err := d.readCode()
	if err != nil {
		return 0, err
	}
	return d.uintBody(code)
}

// ReadUlong reads a ulong in any width (ulong0, smallulong, ulong).
func (d *Decoder) ReadUlong() (uint64, error) {
	code, err := d.readCode()
	if err != nil {
		return 0, err
	}
	return d.ulongBody(code)
}

// ReadSignedByte reads an AMQP byte (signed 8-bit). It is not named ReadByte
// so as not to clash with the io.ByteReader signature.
func (d *Decoder) ReadSignedByte() (int8, error) {
	code, err := d.readCode()
	if err != nil {
		return 0, err
	}
	return d.byteBody(code)
}

// ReadShort reads a short.
func (d *Decoder) ReadShort() (int16, error) {
	code, err := d.readCode()
	if err != nil {
		return 0, err
	}
	return d.shortBody(code)
}

// ReadInt reads an int in any width (smallint, int).
func (d *Decoder) ReadInt() (int32, error) {
	code, err := d.readCode()
	if err != nil {
		return 0, err
	}
	return d.intBody(code)
}

// ReadLong reads a long in any width (smalllong, long).
func (d *Decoder) ReadLong() (int64, error) {
	code, err := d.readCode()
	if err != nil {
		return 0, err
	}
	return d.longBody(code)
}

// ReadFloat reads a float.
func (d *Decoder) ReadFloat() (float32, error) {
	code, err := d.readCode()
	if err != nil {
		return 0, err
	}
	return d.floatBody(code)
}

// ReadDouble reads a double.
func (d *Decoder) ReadDouble() (float64, error) {
	code, err := d.readCode()
	if err != nil {
		return 0, err
	}
	return d.doubleBody(code)
}

// ReadChar reads a char, rejecting surrogates and code points past U+10FFFF.
func (d *Decoder) ReadChar() (Char, error) {
	code, err := d.readCode()
	if err != nil {
		return 0, err
	}
	return d.charBody(code)
}

// ReadTimestamp reads a timestamp as a UTC time.Time.
func (d *Decoder) ReadTimestamp() (time.Time, error) {
	code, err := d.readCode()
	if err != nil {
		return time.Time{}, err
	}
	return d.timestampBody(code)
}

// ReadUUID reads a uuid.
func (d *Decoder) ReadUUID() (UUID, error) {
	code, err := d.readCode()
	if err != nil {
		return UUID{}, err
	}
	return d.uuidBody(code)
}

// ReadString reads a str8 or str32, checking that it is valid UTF-8.
func (d *Decoder) ReadString() (string, error) {
	code, err := d.readCode()
	if err != nil {
		return "", err
	}
	return d.stringBody(code)
}

// ReadSymbol reads a sym8 or sym32, checking that it is ASCII.
func (d *Decoder) ReadSymbol() (Symbol, error) {
	code, err := d.readCode()
	if err != nil {
		return "", err
	}
	return d.symbolBody(code)
}

// ReadBinary reads a vbin8 or vbin32 into a newly allocated slice.
func (d *Decoder) ReadBinary() ([]byte, error) {
	code, err := d.readCode()
	if err != nil {
		return nil, err
	}
	return d.binaryBody(code)
}

// ReadBinaryAlias reads a vbin8 or vbin32 without copying: the result aliases
// the decoder's input (its capacity is capped, so appending to it copies).
func (d *Decoder) ReadBinaryAlias() ([]byte, error) {
	code, err := d.readCode()
	if err != nil {
		return nil, err
	}
	return d.varBody(code, TypeVbin8, TypeVbin32, "binary")
}

// ReadDecimal32 reads a decimal32.
func (d *Decoder) ReadDecimal32() (Decimal32, error) {
	code, err := d.readCode()
	if err != nil {
		return Decimal32{}, err
	}
	return d.decimal32Body(code)
}

// ReadDecimal64 reads a decimal64.
func (d *Decoder) ReadDecimal64() (Decimal64, error) {
	code, err := d.readCode()
	if err != nil {
		return Decimal64{}, err
	}
	return d.decimal64Body(code)
}

// ReadDecimal128 reads a decimal128.
func (d *Decoder) ReadDecimal128() (Decimal128, error) {
	code, err := d.readCode()
	if err != nil {
		return Decimal128{}, err
	}
	return d.decimal128Body(code)
}
