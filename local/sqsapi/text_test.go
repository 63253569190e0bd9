package sqsapi

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzTextMatchesEncodingJSON: on every well-formed JSON string that is
// valid UTF-8 with no lone surrogate escape, text decodes exactly as
// encoding/json does; where encoding/json repairs, text keeps invalid UTF-8.
func FuzzTextMatchesEncodingJSON(f *testing.F) {
	for _, seed := range []string{`"a\ufffdb"`, `"\ud83d\ude00"`, `"\ud800"`, `"\udc00\ud800"`, "\"\xff\"", `"\n\t\\\/\""`, `"\u00e9"`, `"\ud800\u0041"`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		var want string
		if err := json.Unmarshal([]byte(raw), &want); err != nil {
			return // not a JSON string
		}
		var got text
		if err := json.Unmarshal([]byte(raw), &got); err != nil {
			t.Fatalf("%q: encoding/json decodes it, text refuses it: %v", raw, err)
		}
		if utf8.ValidString(string(got)) {
			if string(got) != want {
				t.Fatalf("%q: text %q, encoding/json %q", raw, got, want)
			}
		} else if utf8.ValidString(want) && want == string(got) {
			t.Fatalf("%q: invalid input decoded as valid", raw)
		}
	})
}

func TestTextKeepsWhatIsInvalid(t *testing.T) {
	for raw, want := range map[string]string{
		`"a\ufffdb"`:       "a\uFFFDb",
		`"\ud83d\ude00"`:   "\U0001F600",
		`"\ud800"`:         "\xed\xa0\x80",
		`"\ud800\u0041"`:   "\xed\xa0\x80A",
		`"\udbff\udfff"`:   "\U0010FFFF",
		"\"a\xffb\"":       "a\xffb",
		`"\u0000\u001f"`:   "\x00\x1f",
		`"\"\\\/\b\f\n\r"`: "\"\\/\b\f\n\r",
	} {
		var got text
		if err := json.Unmarshal([]byte(raw), &got); err != nil || string(got) != want {
			t.Errorf("%s: %q %v, want %q", raw, got, err, want)
		}
	}
}
