package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// printJSON writes a JSON reply indented.
func printJSON(w io.Writer, data []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(data), "", "  "); err != nil {
		return fmt.Errorf("the reply is not JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// printValue writes v as indented JSON (the --json output of commands whose reply has no body).
func printValue(w io.Writer, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return printJSON(w, data)
}

// table writes rows under a header, aligned with text/tabwriter.
func table(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		clean := make([]string, len(r))
		for i, cell := range r {
			clean[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(cell)
		}
		fmt.Fprintln(tw, strings.Join(clean, "\t"))
	}
	return tw.Flush()
}

// cell renders a JSON value for a table: integral numbers without a fraction, objects as k=v pairs
// sorted by key, arrays comma-separated, null as empty.
func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case map[string]any:
		parts := make([]string, 0, len(x))
		for _, k := range slices.Sorted(maps.Keys(x)) {
			parts = append(parts, k+"="+cell(x[k]))
		}
		return strings.Join(parts, ",")
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = cell(e)
		}
		return strings.Join(parts, ",")
	}
	data, _ := json.Marshal(v)
	return string(data)
}

// rows builds table rows from a list of objects, one column per key.
func rows(list []map[string]any, keys ...string) [][]string {
	out := make([][]string, 0, len(list))
	for _, m := range list {
		r := make([]string, len(keys))
		for i, k := range keys {
			r[i] = cell(m[k])
		}
		out = append(out, r)
	}
	return out
}

// keyValues parses repeated k=v flags; a value that parses as JSON (10, true, "10", {"a": 1}) is taken
// as that JSON value, any other as a string.
type keyValues map[string]any

func (kv keyValues) String() string { return cell(map[string]any(kv)) }

func (kv keyValues) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not key=value", s)
	}
	dec := json.NewDecoder(strings.NewReader(v))
	dec.UseNumber() // 12345678901234567890 stays exact
	var parsed any
	if err := dec.Decode(&parsed); err == nil && !dec.More() && dec.InputOffset() == int64(len(v)) {
		kv[k] = parsed
	} else {
		kv[k] = v
	}
	return nil
}
