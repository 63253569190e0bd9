package workflow

import (
	"bytes"
	"mime"
	"net/mail"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// FuzzMailbox: an accepted mailbox obeys every RFC 5321 bound, is ASCII on
// the envelope, and its envelope address parses back to the same mailbox.
func FuzzMailbox(f *testing.F) {
	for _, s := range []string{"a@example.org", "Ann <ann@example.org>", `"victim@evil"@example.org`, "jösé@example.org",
		"x@bücher.example", "x@xn--a.example", "x@[127.0.0.1]", strings.Repeat("a", 65) + "@example.org", "a@ex_ample.org",
		`"a\"b"@example.org`, "=?utf-8?q?B=C3=BC?= <b@example.org>", "a@EXAMPLE。org"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		env, envErr := EnvelopeAddress(s)
		b, err := ParseMailbox(s)
		if err != nil {
			return
		}
		if envErr != nil || env != b.Address() {
			t.Fatalf("%q: ParseMailbox accepts (%q) but EnvelopeAddress says %q, %v", s, b.Address(), env, envErr)
		}
		if len(b.Local) > MaxLocalPartOctets || len(b.Domain) > MaxDomainOctets || len(env) > MaxAddressOctets {
			t.Fatalf("%q: bounds broken: %+v", s, b)
		}
		for i := 0; i < len(env); i++ {
			if env[i] < '!' || env[i] > '~' {
				t.Fatalf("%q: envelope %q is not printable ASCII", s, env)
			}
		}
		back, err := mail.ParseAddress(env)
		if err != nil || back.Address != b.Local+"@"+b.Domain {
			t.Fatalf("%q: envelope %q parses back as %v, %v", s, env, back, err)
		}
		again, err := ParseMailbox(b.Header().String())
		if err != nil || again.Address() != env {
			t.Fatalf("%q: header form %q gives %+v, %v", s, b.Header().String(), again, err)
		}
	})
}

// FuzzHeaders: an accepted set of extra headers has no reserved name, no
// two names equal but for case, and names and values that are safe in a
// header line.
func FuzzHeaders(f *testing.F) {
	f.Add("X-Campaign", "q4", "x-campaign", "q5")
	f.Add("X-SES-CONFIGURATION-SET", "x", "List-Unsubscribe", "<mailto:u@example.com>")
	f.Add("x-mailflow-envelope-to", "v@example.net", "X-A", "a\tb")
	f.Add("Content-Type", "multipart/mixed", "X-B", "é")
	f.Fuzz(func(t *testing.T, n1, v1, n2, v2 string) {
		h := map[string]string{n1: v1, n2: v2}
		var p problems
		checkHeaders(&p, h)
		if len(p) > 0 {
			return
		}
		if n1 != n2 && strings.EqualFold(n1, n2) {
			t.Fatalf("accepted %q and %q", n1, n2)
		}
		for name, v := range h {
			if ReservedHeader(name) || !headerAllowed(name) || strings.ContainsAny(name, ": \t\r\n") || len(name) > MaxHeaderName {
				t.Fatalf("accepted header name %q", name)
			}
			if !utf8.ValidString(v) || len(v) > MaxHeaderValue || hasControl(v, true) || hasLineBreak(v) {
				t.Fatalf("accepted header value %q", v)
			}
			if lower := strings.ToLower(name); strings.HasPrefix(lower, "x-ses-") || strings.HasPrefix(lower, "x-mailflow-") {
				t.Fatalf("accepted reserved %q", name)
			}
		}
	})
}

// FuzzMediaType: an accepted content type is one leaf media type whose
// parameters parse and survive being written again.
func FuzzMediaType(f *testing.F) {
	for _, s := range []string{"application/pdf", "image/png; name=logo.png", `multipart/mixed; boundary="x"`, "Message/RFC822",
		"text/plain; charset", "text/pl{ain", " text/plain", "text/plain;\tcharset=utf-8", "application/x-y; a*=utf-8''%C3%A9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ct string) {
		if mediaTypeRule(ct) != "" {
			return
		}
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil {
			t.Fatalf("accepted %q: %v", ct, err)
		}
		if strings.HasPrefix(mt, "multipart/") || strings.HasPrefix(mt, "message/") {
			t.Fatalf("accepted container type %q", ct)
		}
		out := mime.FormatMediaType(mt, params)
		if out == "" || strings.ContainsAny(out, "\r\n") {
			t.Fatalf("accepted %q, written as %q", ct, out)
		}
		if mt2, _, err := mime.ParseMediaType(out); err != nil || mt2 != mt {
			t.Fatalf("accepted %q, written as %q, read back as %q, %v", ct, out, mt2, err)
		}
	})
}

// FuzzFilename: an accepted file name is safe in Content-Disposition and
// names no path.
func FuzzFilename(f *testing.F) {
	for _, s := range []string{"receipt.pdf", "Rechnung Übersicht.pdf", "../a", "a\\b", "..", "invoice\u202efdp.exe", "a\x07b", "a\u0085b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if name == "" || filenameRule(name) != "" {
			return
		}
		if strings.ContainsAny(name, "/\\") || name == "." || name == ".." || hasControl(name, false) || strings.ContainsFunc(name, isBidiFormat) {
			t.Fatalf("accepted %q", name)
		}
		d := mime.FormatMediaType("attachment", map[string]string{"filename": name})
		if _, params, err := mime.ParseMediaType(d); err != nil || params["filename"] != name {
			t.Fatalf("accepted %q, written as %q, read back as %q, %v", name, d, params["filename"], err)
		}
	})
}

// FuzzLoneSurrogate: for a body that jsontext reads when invalid UTF-8 is
// allowed, the scan finds a lone surrogate exactly when jsontext refuses
// the body with invalid UTF-8 forbidden.
func FuzzLoneSurrogate(f *testing.F) {
	for _, s := range []string{`"\ud800"`, `"\ud83d\ude00"`, `"\\ud800"`, `["\udc00x", "\u0041"]`, `{"\ud800\udbff":"\udfff"}`, `"\\\ud800"`, `"\uD834\uDD1E"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !utf8.Valid(body) || !readsAll(body, true) {
			return
		}
		_, esc, found := loneSurrogate(body)
		if strict := readsAll(body, false); strict == found {
			t.Fatalf("%q: scan found %v (%s), strict jsontext reads it: %v", body, found, esc, strict)
		}
	})
}

func readsAll(body []byte, allowInvalid bool) bool {
	d := jsontext.NewDecoder(bytes.NewReader(body), jsontext.AllowInvalidUTF8(allowInvalid), jsontext.AllowDuplicateNames(true))
	if _, err := d.ReadValue(); err != nil {
		return false
	}
	_, err := d.ReadToken()
	return err != nil && err.Error() == "EOF"
}
