package protocol

import (
	"time"
)

// ReadAny reads one value of any type and returns its Go representation (see
// the package documentation).
func (d *Decoder) ReadAny() (any, error) {
	code, err := d.readCode()
	if err != nil {
		return nil, err
	}
	return d.readValue(code)
}

// readValue reads the payload for constructor code (already consumed).
func (d *Decoder) readValue(code byte) (any, error) {
	switch code {
	case TypeDescribed:
		return d.readDescribed()
	case TypeNull:
		return nil, nil
	case TypeBoolTrue, TypeBoolFalse, TypeBool:
		return d.boolBody(code)
	case TypeUbyte:
		return d.ubyteBody(code)
	case TypeUshort:
		return d.ushortBody(code)
	case TypeUint0, TypeSmallUint, TypeUint:
		return d.uintBody(code)
	case TypeUlong0, TypeSmallUlong, TypeUlong:
		return d.ulongBody(code)
	case TypeByte:
		return d.byteBody(code)
	case TypeShort:
		return d.shortBody(code)
	case TypeSmallInt, TypeInt:
		return d.intBody(code)
	case TypeSmallLong, TypeLong:
		return d.longBody(code)
	case TypeFloat:
		return d.floatBody(code)
	case TypeDouble:
		return d.doubleBody(code)
	case TypeDecimal32:
		return d.decimal32Body(code)
	case TypeDecimal64:
		return d.decimal64Body(code)
	case TypeDecimal128:
		return d.decimal128Body(code)
	case TypeChar:
		return d.charBody(code)
	case TypeTimestamp:
		return d.timestampBody(code)
	case TypeUUID:
		return d.uuidBody(code)
	case TypeVbin8, TypeVbin32:
		return d.binaryBody(code)
	case TypeStr8, TypeStr32:
		return d.stringBody(code)
	case TypeSym8, TypeSym32:
		return d.symbolBody(code)
	case TypeList0, TypeList8, TypeList32:
		return d.listBody(code)
	case TypeMap8, TypeMap32:
		return d.mapBody(code)
	case TypeArray8, TypeArray32:
		return d.arrayBody(code, false)
	}
	return nil, d.errorf(d.pos-1, "invalid constructor %#02x", code)
}

// compoundHeader reads the size and count fields of a list8/32, map8/32 or
// array8/32 (constructor consumed). The size counts the bytes after the size
// field, count field included (spec 1.6.22-24); it must fit in the input. end
// is the offset just past the value.
func (d *Decoder) compoundHeader(wide bool) (count uint64, end int, err error) {
	var size, width uint64
	if wide {
		v, err := d.take4()
		if err != nil {
			return 0, 0, err
		}
		size, width = uint64(v), 4
	} else {
		c, err := d.take1()
		if err != nil {
			return 0, 0, err
		}
		size, width = uint64(c), 1
	}
	if size < width {
		return 0, 0, d.errorf(d.pos-int(width), "compound size %d smaller than its count field", size)
	}
	if size > uint64(len(d.buf)-d.pos) {
		return 0, 0, d.errorf(d.pos-int(width), "compound size %d exceeds the %d bytes left", size, len(d.buf)-d.pos)
	}
	end = d.pos + int(size)
	if wide {
		v, _ := d.take4()
		count = uint64(v)
	} else {
		c, _ := d.take1()
		count = uint64(c)
	}
	return count, end, nil
}

// enter starts decoding a compound value ending at end: it enforces
// MaxNestingDepth and confines reads to the value. leave undoes it and checks
// that the content filled the declared size exactly.
func (d *Decoder) enter(end int) ([]byte, error) {
	if d.depth >= MaxNestingDepth {
		return nil, d.errorf(d.pos, "values nested deeper than %d", MaxNestingDepth)
	}
	d.depth++
	saved := d.buf
	d.buf = d.buf[:end]
	return saved, nil
}

func (d *Decoder) leave(saved []byte, end int, err error) error {
	d.depth--
	d.buf = saved
	if err == nil && d.pos != end {
		err = d.errorf(d.pos, "compound content ends at %d, its size says %d", d.pos, end)
	}
	return err
}

// ReadListHeader reads a list0, list8 or list32 header for a generated
// composite decoder. count is the number of elements; end is the offset just
// past the list. The count is checked against the bytes left (every element
// needs at least one byte).
func (d *Decoder) ReadListHeader() (count int, end int, err error) {
	code, err := d.readCode()
	if err != nil {
		return 0, 0, err
	}
	return d.listHeader(code)
}

func (d *Decoder) listHeader(code byte) (int, int, error) {
	switch code {
	case TypeList0:
		return 0, d.pos, nil
	case TypeList8, TypeList32:
	default:
		return 0, 0, d.wrongCode(code, "list")
	}
	n, end, err := d.compoundHeader(code == TypeList32)
	if err != nil {
		return 0, 0, err
	}
	if n > uint64(end-d.pos) {
		return 0, 0, d.errorf(d.pos, "list count %d exceeds its %d content bytes", n, end-d.pos)
	}
	return int(n), end, nil
}

// ReadList reads a list as []any (list0 gives an empty, non-nil slice).
func (d *Decoder) ReadList() ([]any, error) {
	code, err := d.readCode()
	if err != nil {
		return nil, err
	}
	return d.listBody(code)
}

func (d *Decoder) listBody(code byte) ([]any, error) {
	n, end, err := d.listHeader(code)
	if err != nil {
		return nil, err
	}
	if code == TypeList0 {
		return []any{}, nil
	}
	saved, err := d.enter(end)
	if err != nil {
		return nil, err
	}
	out := make([]any, n)
	for i := range out {
		if out[i], err = d.ReadAny(); err != nil {
			break
		}
	}
	if err = d.leave(saved, end, err); err != nil {
		return nil, err
	}
	return out, nil
}

// ReadMap reads a map8 or map32 as an order-preserving Map.
func (d *Decoder) ReadMap() (Map, error) {
	code, err := d.readCode()
	if err != nil {
		return nil, err
	}
	return d.mapBody(code)
}

func (d *Decoder) mapBody(code byte) (Map, error) {
	if code != TypeMap8 && code != TypeMap32 {
		return nil, d.wrongCode(code, "map")
	}
	n, end, err := d.compoundHeader(code == TypeMap32)
	if err != nil {
		return nil, err
	}
	// 1.6.23: the count is the number of keys plus values, so it is even.
	if n%2 != 0 {
		return nil, d.errorf(d.pos, "map count %d is odd", n)
	}
	if n > uint64(end-d.pos) {
		return nil, d.errorf(d.pos, "map count %d exceeds its %d content bytes", n, end-d.pos)
	}
	saved, err := d.enter(end)
	if err != nil {
		return nil, err
	}
	out := make(Map, n/2)
	for i := range out {
		if out[i].Key, err = d.ReadAny(); err != nil {
			break
		}
		if out[i].Value, err = d.ReadAny(); err != nil {
			break
		}
	}
	if err = d.leave(saved, end, err); err != nil {
		return nil, err
	}
	return out, nil
}

// readDescribed reads a described value after its 0x00 constructor.
func (d *Decoder) readDescribed() (any, error) {
	if d.depth >= MaxNestingDepth {
		return nil, d.errorf(d.pos, "values nested deeper than %d", MaxNestingDepth)
	}
	desc, err := d.descriptorValue()
	if err != nil {
		return nil, err
	}
	d.depth++
	v, err := d.ReadAny()
	d.depth--
	if err != nil {
		return nil, err
	}
	return &Described{Descriptor: desc, Value: v}, nil
}

// descriptorValue reads a descriptor after 0x00: a ulong code (any width) or a
// symbol (spec 1.5). Other descriptor types are rejected.
func (d *Decoder) descriptorValue() (any, error) {
	code, err := d.readCode()
	if err != nil {
		return nil, err
	}
	switch code {
	case TypeUlong0, TypeSmallUlong, TypeUlong:
		return d.ulongBody(code)
	case TypeSym8, TypeSym32:
		return d.symbolBody(code)
	}
	return nil, d.wrongCode(code, "a ulong or symbol descriptor")
}

// ReadDescriptor reads the 0x00 constructor and a descriptor: a numeric code
// (sym is empty) or a symbolic name (code is 0).
func (d *Decoder) ReadDescriptor() (code uint64, sym Symbol, err error) {
	c, err := d.readCode()
	if err != nil {
		return 0, "", err
	}
	if c != TypeDescribed {
		return 0, "", d.wrongCode(c, "a described type")
	}
	c, err = d.readCode()
	if err != nil {
		return 0, "", err
	}
	switch c {
	case TypeUlong0, TypeSmallUlong, TypeUlong:
		code, err = d.ulongBody(c)
		return code, "", err
	case TypeSym8, TypeSym32:
		sym, err = d.symbolBody(c)
		return 0, sym, err
	}
	return 0, "", d.wrongCode(c, "a ulong or symbol descriptor")
}

// ReadSymbolArray reads a multiple="true" symbol field (spec 1.3): either a
// single symbol or an array of symbols.
func (d *Decoder) ReadSymbolArray() ([]Symbol, error) {
	code, err := d.readCode()
	if err != nil {
		return nil, err
	}
	switch code {
	case TypeSym8, TypeSym32:
		s, err := d.symbolBody(code)
		if err != nil {
			return nil, err
		}
		return []Symbol{s}, nil
	case TypeArray8, TypeArray32:
		v, err := d.arrayBody(code, true)
		if err != nil {
			return nil, err
		}
		return v.([]Symbol), nil
	}
	return nil, d.wrongCode(code, "a symbol or an array of symbols")
}

// arrayBody reads an array8/array32 after its constructor. symbolsOnly makes
// any element type other than symbol an error (and guarantees a []Symbol).
func (d *Decoder) arrayBody(code byte, symbolsOnly bool) (any, error) {
	n, end, err := d.compoundHeader(code == TypeArray32)
	if err != nil {
		return nil, err
	}
	saved, err := d.enter(end)
	if err != nil {
		return nil, err
	}
	v, err := d.arrayContent(n, symbolsOnly)
	if err = d.leave(saved, end, err); err != nil {
		return nil, err
	}
	return v, nil
}

// arrayContent reads the element constructor and n element payloads.
func (d *Decoder) arrayContent(n uint64, symbolsOnly bool) (any, error) {
	var desc any
	ctor, err := d.readCode()
	if err != nil {
		return nil, err
	}
	if ctor == TypeDescribed {
		if symbolsOnly {
			return nil, d.wrongCode(ctor, "an array of symbols")
		}
		if desc, err = d.descriptorValue(); err != nil {
			return nil, err
		}
		if ctor, err = d.readCode(); err != nil {
			return nil, err
		}
		if ctor == TypeDescribed {
			return nil, d.wrongCode(ctor, "an array element constructor (nested descriptors are not supported)")
		}
	}
	if symbolsOnly && ctor != TypeSym8 && ctor != TypeSym32 {
		return nil, d.wrongCode(ctor, "an array of symbols")
	}
	if err := d.checkArrayCount(n, ctor); err != nil {
		return nil, err
	}
	count := int(n)
	if desc != nil {
		return d.genericArray(ctor, desc, count)
	}
	switch ctor {
	case TypeBool, TypeBoolTrue, TypeBoolFalse:
		return readElems(d, ctor, count, (*Decoder).boolBody)
	case TypeUshort:
		return readElems(d, ctor, count, (*Decoder).ushortBody)
	case TypeUint0, TypeSmallUint, TypeUint:
		return readElems(d, ctor, count, (*Decoder).uintBody)
	case TypeUlong0, TypeSmallUlong, TypeUlong:
		return readElems(d, ctor, count, (*Decoder).ulongBody)
	case TypeByte:
		return readElems(d, ctor, count, (*Decoder).byteBody)
	case TypeShort:
		return readElems(d, ctor, count, (*Decoder).shortBody)
	case TypeSmallInt, TypeInt:
		return readElems(d, ctor, count, (*Decoder).intBody)
	case TypeSmallLong, TypeLong:
		return readElems(d, ctor, count, (*Decoder).longBody)
	case TypeFloat:
		return readElems(d, ctor, count, (*Decoder).floatBody)
	case TypeDouble:
		return readElems(d, ctor, count, (*Decoder).doubleBody)
	case TypeDecimal32:
		return readElems(d, ctor, count, (*Decoder).decimal32Body)
	case TypeDecimal64:
		return readElems(d, ctor, count, (*Decoder).decimal64Body)
	case TypeDecimal128:
		return readElems(d, ctor, count, (*Decoder).decimal128Body)
	case TypeChar:
		return readElems(d, ctor, count, (*Decoder).charBody)
	case TypeTimestamp:
		return readElems[time.Time](d, ctor, count, (*Decoder).timestampBody)
	case TypeUUID:
		return readElems(d, ctor, count, (*Decoder).uuidBody)
	case TypeVbin8, TypeVbin32:
		return readElems(d, ctor, count, (*Decoder).binaryBody)
	case TypeStr8, TypeStr32:
		return readElems(d, ctor, count, (*Decoder).stringBody)
	case TypeSym8, TypeSym32:
		return readElems(d, ctor, count, (*Decoder).symbolBody)
	}
	return d.genericArray(ctor, nil, count)
}

// readElems decodes n element payloads of one constructor into a typed slice.
func readElems[T any](d *Decoder, code byte, n int, body func(*Decoder, byte) (T, error)) ([]T, error) {
	out := make([]T, n)
	for i := range out {
		v, err := body(d, code)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// genericArray decodes the elements of an array that has no typed Go slice.
func (d *Decoder) genericArray(ctor byte, desc any, n int) (Array, error) {
	out := Array{Code: ctor, Descriptor: desc, Elems: make([]any, n)}
	for i := range out.Elems {
		v, err := d.readValue(ctor)
		if err != nil {
			return Array{}, err
		}
		out.Elems[i] = v
	}
	return out, nil
}

// checkArrayCount checks an array's element count against the bytes left
// before anything is allocated for the elements: each element needs at least
// the minimum payload size of its constructor. Zero-width elements draw on the
// decoder's maxZeroWidthElems budget instead.
func (d *Decoder) checkArrayCount(n uint64, ctor byte) error {
	var minSize uint64
	if w, ok := fixedWidth(ctor); ok {
		minSize = uint64(w)
	} else {
		switch ctor {
		case TypeVbin8, TypeStr8, TypeSym8:
			minSize = 1 // length
		case TypeVbin32, TypeStr32, TypeSym32:
			minSize = 4
		case TypeList8, TypeMap8:
			minSize = 2 // size, count
		case TypeList32, TypeMap32:
			minSize = 8
		case TypeArray8:
			minSize = 3 // size, count, element constructor
		case TypeArray32:
			minSize = 9
		default:
			return d.errorf(d.pos-1, "invalid array element constructor %#02x", ctor)
		}
	}
	left := uint64(len(d.buf) - d.pos)
	if minSize == 0 {
		if n > uint64(maxZeroWidthElems-d.zeroWidth) {
			return d.errorf(d.pos, "array of %d zero-width elements exceeds the decoder's budget", n)
		}
		d.zeroWidth += int(n)
		return nil
	}
	// n < 2^32 and minSize <= 16, so the product cannot overflow.
	if n*minSize > left {
		return d.errorf(d.pos, "array count %d needs at least %d bytes, %d left", n, n*minSize, left)
	}
	return nil
}

// Skip skips one complete encoded value of any type without allocating. It
// checks sizes against the input but does not validate compound contents.
func (d *Decoder) Skip() error {
	code, err := d.readCode()
	if err != nil {
		return err
	}
	if w, ok := fixedWidth(code); ok {
		_, err := d.take(uint64(w))
		return err
	}
	switch code {
	case TypeVbin8, TypeStr8, TypeSym8:
		_, err := d.varBody(code, code, 0, "")
		return err
	case TypeVbin32, TypeStr32, TypeSym32:
		_, err := d.varBody(code, 0, code, "")
		return err
	case TypeList8, TypeList32:
		_, end, err := d.listHeader(code)
		if err != nil {
			return err
		}
		d.pos = end
		return nil
	case TypeMap8, TypeMap32, TypeArray8, TypeArray32:
		n, end, err := d.compoundHeader(code == TypeMap32 || code == TypeArray32)
		if err != nil {
			return err
		}
		if (code == TypeMap8 || code == TypeMap32) && (n%2 != 0 || n > uint64(end-d.pos)) {
			return d.errorf(d.pos, "map count %d is odd or exceeds its %d content bytes", n, end-d.pos)
		}
		d.pos = end
		return nil
	case TypeDescribed:
		if d.depth >= MaxNestingDepth {
			return d.errorf(d.pos, "values nested deeper than %d", MaxNestingDepth)
		}
		d.depth++
		err := d.Skip()
		if err == nil {
			err = d.Skip()
		}
		d.depth--
		return err
	}
	return d.errorf(d.pos-1, "invalid constructor %#02x", code)
}
