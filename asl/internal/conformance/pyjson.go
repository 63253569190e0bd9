package conformance

import (
	"encoding/json"
	"sort"
	"strconv"
	"unicode/utf16"
)

// pythonJSON serialises a value the way the recorded Python Lambda functions
// did (json.dumps defaults: ", " and ": " separators, ASCII escapes), so the
// Content-Length in lambda:invoke answers matches.
func pythonJSON(v any) []byte {
	return appendPy(nil, v)
}

func appendPy(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, x)
	case json.Number:
		return append(b, x...)
	case string:
		b = append(b, '"')
		for _, r := range x {
			switch {
			case r == '"':
				b = append(b, '\\', '"')
			case r == '\\':
				b = append(b, '\\', '\\')
			case r == '\n':
				b = append(b, '\\', 'n')
			case r == '\r':
				b = append(b, '\\', 'r')
			case r == '\t':
				b = append(b, '\\', 't')
			case r < 0x20 || r > 0x7e:
				if r > 0xffff {
					r1, r2 := utf16.EncodeRune(r)
					b = appendU(b, r1)
					b = appendU(b, r2)
				} else {
					b = appendU(b, r)
				}
			default:
				b = append(b, byte(r))
			}
		}
		return append(b, '"')
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = appendPy(b, e)
		}
		return append(b, ']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = appendPy(b, k)
			b = append(b, ": "...)
			b = appendPy(b, x[k])
		}
		return append(b, '}')
	}
	out, _ := json.Marshal(v)
	return append(b, out...)
}

func appendU(b []byte, r rune) []byte {
	const hex = "0123456789abcdef"
	return append(b, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
}
