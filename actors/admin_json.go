package actors

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/warren-mq/warren/protocol"
)

// JSON ↔ AMQP values for the HTTP API. The management operations take AMQP values (protocol.Map with
// string keys, []any, longs and doubles); the API speaks JSON.

// apiFromJSON converts a value decoded by encoding/json (json.Number or float64 numbers) or taken from
// parsed definitions (int64, float64) into an AMQP value: objects become protocol.Map with their keys
// sorted, arrays []any, integral numbers long (int64) and other numbers double (float64).
func apiFromJSON(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool, string, int64:
		return x, nil
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		f, err := x.Float64()
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, fmt.Errorf("the number %s is out of range", x)
		}
		return f, nil
	case float64:
		if x == math.Trunc(x) && x >= math.MinInt64 && x < math.MaxInt64 {
			return int64(x), nil
		}
		return x, nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		m := make(protocol.Map, 0, len(x))
		for _, k := range keys {
			val, err := apiFromJSON(x[k])
			if err != nil {
				return nil, fmt.Errorf("%q: %w", k, err)
			}
			m = append(m, protocol.MapEntry{Key: k, Value: val})
		}
		return m, nil
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			val, err := apiFromJSON(e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			l[i] = val
		}
		return l, nil
	}
	return nil, fmt.Errorf("unsupported value %T", v)
}

// apiToJSON converts an AMQP value (as decoded by the protocol package, or held by a spec) into a value
// encoding/json can always encode: symbols and chars become strings, maps objects (non-string keys
// printed), uuids and decimals strings, non-finite doubles strings, described values
// {"descriptor", "value"}, timestamps RFC 3339 strings.
func apiToJSON(v any) any {
	switch x := v.(type) {
	case nil, bool, string, int8, int16, int32, int64, int, uint8, uint16, uint32, uint64, uint:
		return x
	case float32:
		return apiFloat(float64(x))
	case float64:
		return apiFloat(x)
	case protocol.Symbol:
		return string(x)
	case protocol.Char:
		return string(rune(x))
	case []byte:
		return x // base64, as encoding/json writes bytes
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case protocol.UUID:
		h := hex.EncodeToString(x[:])
		return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
	case protocol.Decimal32:
		return "0x" + hex.EncodeToString(x[:])
	case protocol.Decimal64:
		return "0x" + hex.EncodeToString(x[:])
	case protocol.Decimal128:
		return "0x" + hex.EncodeToString(x[:])
	case protocol.Map:
		out := make(map[string]any, len(x))
		for _, e := range x {
			out[apiKey(e.Key)] = apiToJSON(e.Value)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = apiToJSON(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = apiToJSON(e)
		}
		return out
	case protocol.Array:
		return apiToJSON(x.Elems)
	case *protocol.Array:
		if x == nil {
			return nil
		}
		return apiToJSON(x.Elems)
	case protocol.Described:
		return map[string]any{"descriptor": apiToJSON(x.Descriptor), "value": apiToJSON(x.Value)}
	case *protocol.Described:
		if x == nil {
			return nil
		}
		return map[string]any{"descriptor": apiToJSON(x.Descriptor), "value": apiToJSON(x.Value)}
	}
	// The typed slices AMQP arrays decode to ([]int32, []protocol.Symbol, [][]byte, …).
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice {
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = apiToJSON(rv.Index(i).Interface())
		}
		return out
	}
	return fmt.Sprint(v)
}

func apiFloat(f float64) any {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return f
}

func apiKey(k any) string {
	switch x := k.(type) {
	case string:
		return x
	case protocol.Symbol:
		return string(x)
	}
	return fmt.Sprint(apiToJSON(k))
}

// apiArgs renders an arguments map as a JSON object (never null).
func apiArgs(args map[string]any) map[string]any {
	out := make(map[string]any, len(args))
	for k, v := range args {
		out[k] = apiToJSON(v)
	}
	return out
}

// apiArgsFromBody reads an "arguments" object of a request body as an AMQP map.
func apiArgsFromBody(body map[string]any) (protocol.Map, error) {
	raw, ok := body["arguments"]
	if !ok || raw == nil {
		return protocol.Map{}, nil
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return nil, apiErrorf(http.StatusBadRequest, "arguments must be a JSON object")
	}
	v, err := apiFromJSON(obj)
	if err != nil {
		return nil, apiErrorf(http.StatusBadRequest, "arguments %v", err)
	}
	return v.(protocol.Map), nil
}

// apiBool reads an optional boolean field of a request body.
func apiBool(body map[string]any, key string, def bool) (bool, error) {
	raw, ok := body[key]
	if !ok || raw == nil {
		return def, nil
	}
	b, ok := raw.(bool)
	if !ok {
		return false, apiErrorf(http.StatusBadRequest, "%s must be true or false", key)
	}
	return b, nil
}

// apiString reads an optional string field of a request body.
func apiString(body map[string]any, key, def string) (string, error) {
	raw, ok := body[key]
	if !ok || raw == nil {
		return def, nil
	}
	s, ok := raw.(string)
	if !ok {
		return "", apiErrorf(http.StatusBadRequest, "%s must be a string", key)
	}
	return s, nil
}

// apiInt reads an optional integer field of a request body (a JSON number or a numeric string, as
// RabbitMQ's management UI sends them).
func apiInt(body map[string]any, key string, def int64) (int64, error) {
	raw, ok := body[key]
	if !ok || raw == nil {
		return def, nil
	}
	var s string
	switch x := raw.(type) {
	case json.Number:
		s = x.String()
	case string:
		s = x
	case float64:
		s = strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return 0, apiErrorf(http.StatusBadRequest, "%s must be an integer", key)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, apiErrorf(http.StatusBadRequest, "%s must be an integer, not %q", key, s)
	}
	return n, nil
}
