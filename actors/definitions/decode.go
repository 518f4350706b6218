package definitions

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strings"
)

// parser holds what one Parse call accumulates besides the result: the ignored fields, reported
// once per (section, field) when parsing ends so a thousand queues with the same extra field make one line.
type parser struct {
	log      *slog.Logger
	warned   map[string]int // section + "\x00" + field → index in ignored
	ignored  []ignoredField
	skipWarn []skipped
}

type ignoredField struct {
	field, entry string
	count        int
}

type skipped struct {
	entry, reason string
}

// ignore records that field of entry (in section) is not used.
func (p *parser) ignore(section, field, entry string) {
	key := section + "\x00" + field
	if i, ok := p.warned[key]; ok {
		p.ignored[i].count++
		return
	}
	p.warned[key] = len(p.ignored)
	p.ignored = append(p.ignored, ignoredField{field: field, entry: entry, count: 1})
}

// skip records an entry that is dropped on purpose, as RabbitMQ's import drops it.
func (p *parser) skip(entry, reason string) {
	p.skipWarn = append(p.skipWarn, skipped{entry: entry, reason: reason})
}

func (p *parser) flushWarnings() {
	for _, f := range p.ignored {
		p.log.Warn("definitions: ignoring unknown field", "field", f.field, "entry", f.entry, "entries", f.count)
	}
	for _, s := range p.skipWarn {
		p.log.Warn("definitions: skipping entry", "entry", s.entry, "reason", s.reason)
	}
}

// decodeStrict decodes one JSON value from data into v, numbers as json.Number, and refuses trailing data.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return describeJSONError(data, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("unexpected data after the top-level JSON value")
	}
	return nil
}

// describeJSONError turns encoding/json's offsets into line:column.
func describeJSONError(data []byte, err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		line, col := lineCol(data, syn.Offset)
		return fmt.Errorf("invalid JSON at line %d, column %d: %s", line, col, syn.Error())
	}
	if errors.Is(err, io.EOF) {
		return errors.New("empty file: want a JSON object")
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("invalid JSON: unexpected end of file")
	}
	return err
}

func lineCol(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	before := data[:max(offset, 0)]
	line = bytes.Count(before, []byte{'\n'}) + 1
	col = len(before) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// isEmptyValue reports whether raw is null, "", {} or []: a field that carries nothing loses nothing
// when it is ignored, so it earns no warning (RabbitMQ's exports are full of "limits": {}).
func isEmptyValue(raw json.RawMessage) bool {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return false
	}
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

// entry decodes the fields of one JSON object of a section. Accessors consume the fields they read;
// the first error is kept and later accessors return zero values.
type entry struct {
	p       *parser
	section string
	label   string // e.g. `queues[3] "orders"`, for messages
	fields  map[string]json.RawMessage
	err     error
}

func (e *entry) failf(format string, args ...any) {
	if e.err == nil {
		e.err = fmt.Errorf("%s: %s", e.label, fmt.Sprintf(format, args...))
	}
}

func (e *entry) take(key string) (json.RawMessage, bool) {
	raw, ok := e.fields[key]
	delete(e.fields, key)
	if !ok || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil, false
	}
	return raw, true
}

// str reads a string field; absent or null is "".
func (e *entry) str(key string) string {
	raw, ok := e.take(key)
	if !ok {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		e.failf("%s must be a string", key)
	}
	return s
}

// boolean reads a boolean field; absent or null is false.
func (e *entry) boolean(key string) bool {
	raw, ok := e.take(key)
	if !ok {
		return false
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil {
		e.failf("%s must be true or false", key)
	}
	return b
}

// arguments reads an object of arbitrary JSON values, numbers normalised (see normalize); empty is nil.
func (e *entry) arguments(key string) map[string]any {
	raw, ok := e.take(key)
	if !ok {
		return nil
	}
	var m map[string]any
	if err := decodeStrict(raw, &m); err != nil {
		e.failf("%s must be a JSON object", key)
		return nil
	}
	if len(m) == 0 {
		return nil
	}
	for k, v := range m {
		n, err := normalize(v)
		if err != nil {
			e.failf("%s %q: %v", key, k, err)
			return nil
		}
		m[k] = n
	}
	return m
}

// tags reads RabbitMQ's user tags: "administrator,monitoring" or ["administrator", "monitoring"].
func (e *entry) tags(key string) []string {
	raw, ok := e.take(key)
	if !ok {
		return nil
	}
	var list []string
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		list = strings.Split(s, ",")
	} else if err := json.Unmarshal(raw, &list); err != nil {
		e.failf("%s must be a comma-separated string or a list of strings", key)
		return nil
	}
	var out []string
	for _, t := range list {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// done consumes the fields that are quietly accepted and reports the rest as ignored.
func (e *entry) done(quiet ...string) error {
	for _, k := range quiet {
		delete(e.fields, k)
	}
	for _, k := range slices.Sorted(maps.Keys(e.fields)) {
		if !isEmptyValue(e.fields[k]) {
			e.p.ignore(e.section, k, e.label)
		}
	}
	return e.err
}

// normalize turns json.Numbers into int64 when integral and in range, float64 otherwise, recursively.
func normalize(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		f, err := x.Float64()
		if err != nil || math.IsInf(f, 0) {
			return nil, fmt.Errorf("number %s is out of range", x.String())
		}
		if f == math.Trunc(f) && f >= math.MinInt64 && f < math.MaxInt64 {
			return int64(f), nil
		}
		return f, nil
	case []any:
		for i := range x {
			n, err := normalize(x[i])
			if err != nil {
				return nil, err
			}
			x[i] = n
		}
	case map[string]any:
		for k := range x {
			n, err := normalize(x[k])
			if err != nil {
				return nil, err
			}
			x[k] = n
		}
	}
	return v, nil
}
