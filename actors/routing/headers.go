package routing

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// The "x-match" binding argument of a headers exchange and its values.
const (
	XMatch         = "x-match"
	XMatchAll      = "all"
	XMatchAny      = "any"
	XMatchAllWithX = "all-with-x"
	XMatchAnyWithX = "any-with-x"
)

// headersMatcher is a headers binding's arguments, compiled.
type headersMatcher struct {
	any  bool // "any" or "any-with-x"; otherwise "all" or "all-with-x"
	args []headerArg
}

type headerArg struct {
	key  string
	void bool // nil argument: the header only has to be present
	val  value
}

// compileHeaders reads the x-match mode and the arguments to match from a binding's arguments.
func compileHeaders(args map[string]any) (headersMatcher, error) {
	mode := XMatchAll
	if v, ok := args[XMatch]; ok {
		rv := reflect.ValueOf(v)
		if !rv.IsValid() || rv.Kind() != reflect.String {
			return headersMatcher{}, fmt.Errorf("%w: %s must be a string, got %T", ErrInvalidArgs, XMatch, v)
		}
		mode = rv.String()
	}
	var hm headersMatcher
	withX := false
	switch mode {
	case XMatchAll:
	case XMatchAny:
		hm.any = true
	case XMatchAllWithX:
		withX = true
	case XMatchAnyWithX:
		hm.any, withX = true, true
	default:
		return headersMatcher{}, fmt.Errorf("%w: %s %q is not one of all, any, all-with-x, any-with-x",
			ErrInvalidArgs, XMatch, mode)
	}
	for k, v := range args {
		if k == XMatch || (!withX && strings.HasPrefix(k, "x-")) {
			continue
		}
		n, err := normalize(v)
		if err != nil {
			return headersMatcher{}, fmt.Errorf("argument %q: %w", k, err)
		}
		hm.args = append(hm.args, headerArg{key: k, void: n.kind == valueVoid, val: n})
	}
	slices.SortFunc(hm.args, func(a, b headerArg) int { return strings.Compare(a.key, b.key) })
	return hm, nil
}

// matches applies the binding to a message's headers. With "all" every argument must match
// (so no arguments match every message); with "any" at least one must (so none match nothing).
func (hm *headersMatcher) matches(headers func(string) (any, bool)) bool {
	for i := range hm.args {
		a := &hm.args[i]
		ok := false
		if headers != nil {
			var v any
			if v, ok = headers(a.key); ok && !a.void {
				ok = a.val.equalsHeader(v)
			}
		}
		if ok == hm.any {
			return ok
		}
	}
	return !hm.any
}

// headersIndex tries every binding in turn; the routing key is ignored.
type headersIndex struct {
	t *table
}

func (x *headersIndex) prepare(r *record) error {
	hm, err := compileHeaders(r.b.Args)
	if err != nil {
		return err
	}
	r.hm = hm
	return nil
}

func (x *headersIndex) add(*record) {}

func (x *headersIndex) remove(*record) {}

func (x *headersIndex) match(dst []Destination, epoch uint64, _ string, headers func(string) (any, bool)) []Destination {
	for r := x.t.head; r != nil; r = r.next {
		if r.ref.mark != epoch && r.hm.matches(headers) {
			dst = r.ref.emit(dst, epoch)
		}
	}
	return dst
}
