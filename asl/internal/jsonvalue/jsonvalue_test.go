package jsonvalue

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"testing"
)

func stdDecode(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &SyntaxError{msg: "trailing"}
	}
	return v, nil
}

func stdEncode(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

var samples = []string{
	`{}`, `[]`, `null`, `true`, ` false `, `0`, `-0.5e+10`, `1.000`, `123456789012345678901234567890`,
	`"a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00<>&\u2028"`, `"\ud800"`, `"\ud800\u0041"`,
	`{"a":[1,{"b":null}],"a":2,"c":"x"}`, `[1,2,[3,[4,[]]]]`, "\"caf\xc3\xa9 \xff\"",
	`{"k":"v","n":-1,"f":1.5e-7,"t":true}`,
}

var invalid = []string{``, `{`, `[1,]`, `{"a"}`, `01`, `1.`, `-`, `1e`, `"\x"`, "\"a\x01\"", `nul`, `[1] x`, `{"a":1,}`, `"\u12"`}

func TestDecodeMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, s := range samples {
		got, err := Decode([]byte(s))
		want, werr := stdDecode([]byte(s))
		if (err != nil) != (werr != nil) {
			t.Errorf("%s: err %v, encoding/json %v", s, err, werr)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %#v, want %#v", s, got, want)
		}
	}
	for _, s := range invalid {
		if _, err := Decode([]byte(s)); err == nil {
			t.Errorf("%q: no error", s)
		}
	}
}

func TestAppendMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, s := range samples {
		v, err := stdDecode([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		got, err := Append(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		if want := stdEncode(v); !bytes.Equal(got, want) {
			t.Errorf("%s: got %s, want %s", s, got, want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range append(samples, invalid...) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := Decode(b)
		want, werr := stdDecode(b)
		if (err != nil) != (werr != nil) {
			t.Fatalf("%q: err %v, encoding/json %v", b, err, werr)
		}
		if err != nil {
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: got %#v, want %#v", b, got, want)
		}
		out, err := Append(nil, got)
		if err != nil {
			t.Fatal(err)
		}
		if want := stdEncode(got); !bytes.Equal(out, want) {
			t.Fatalf("%q: encoded %s, want %s", b, out, want)
		}
	})
}

func TestDecodeFirst(t *testing.T) {
	t.Parallel()
	v, n, err := DecodeFirst([]byte(` {"a":1} trailing`))
	if err != nil || n != 8 || !reflect.DeepEqual(v, map[string]any{"a": json.Number("1")}) {
		t.Errorf("got %v %d %v", v, n, err)
	}
}

func TestDuplicates(t *testing.T) {
	got, err := Duplicates([]byte(`{"a":{"b":1,"b":2},"l":[0,{"k":1,"\u006b":2}],"x/y":{"z":1,"z":1},"a":3}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Duplicate{{"/a", "b"}, {"/l/1", "k"}, {"/x~1y", "z"}, {"", "a"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if d, err := Duplicates([]byte(`{"a":1}`)); err != nil || d != nil {
		t.Errorf("no duplicates: %v, %v", d, err)
	}
}
