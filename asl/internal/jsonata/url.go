package jsonata

import (
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"unicode/utf8"
)

// The URL functions as JavaScript's encodeURIComponent, encodeURI,
// decodeURIComponent and decodeURI define them, which is what JSONata
// specifies (the base library escapes a space as "+" and decodes "+" as a
// space, as HTML forms do).

const (
	uriUnreserved = "-_.!~*'()"
	uriReserved   = ";,/?:@&=+$#"
)

func uriEncode(s, keep string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(keep, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

func urlFunc(name string, f func(string) (string, error)) *builtin {
	return &builtin{name: name, call: func(args []reflect.Value) (reflect.Value, error) {
		s, ok, err := strArg(args, 0, name)
		if err != nil || !ok {
			return undefined, err
		}
		out, ferr := f(s)
		if ferr != nil {
			return undefined, ferr
		}
		return reflect.ValueOf(out), nil
	}}
}

func uriDecode(name string) func(string) (string, error) {
	return func(s string) (string, error) {
		out, err := url.PathUnescape(s)
		if err != nil || !utf8.ValidString(out) {
			return "", &EvalError{Code: "D3140", Msg: fmt.Sprintf("Malformed URL passed to $%s(): %q", name, s)}
		}
		return out, nil
	}
}

func init() {
	awsFuncs["encodeUrlComponent"] = urlFunc("encodeUrlComponent", func(s string) (string, error) { return uriEncode(s, uriUnreserved), nil })
	awsFuncs["encodeUrl"] = urlFunc("encodeUrl", func(s string) (string, error) { return uriEncode(s, uriUnreserved+uriReserved), nil })
	awsFuncs["decodeUrlComponent"] = urlFunc("decodeUrlComponent", uriDecode("decodeUrlComponent"))
	awsFuncs["decodeUrl"] = urlFunc("decodeUrl", uriDecode("decodeUrl"))
}
