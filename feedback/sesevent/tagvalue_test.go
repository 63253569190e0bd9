package sesevent

import (
	"regexp"
	"strings"
	"testing"
)

// sesTagValue is what SES accepts as a message tag's value.
var sesTagValue = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

func TestMailIDTagValueRoundTrips(t *testing.T) {
	ids := []string{
		"a", "order-1/receipt", "order-1234:confirmation", "ann@example.org/welcome", "a_b.c",
		"_z", "__", strings.Repeat("/", 200), strings.Repeat("z", 200), strings.Repeat("-", 200),
		strings.Repeat("a.", 100), "0", strings.Repeat("-", 199) + "/",
	}
	for _, id := range ids {
		v := MailIDTagValue(id)
		if !sesTagValue.MatchString(v) {
			t.Errorf("%q encodes to %q (%d characters), which SES refuses", id, v, len(v))
		}
		got, ok := decodeMailIDTag(v)
		if !ok || got != id {
			t.Errorf("%q → %q → %q, %v", id, v, got, ok)
		}
		e := Event{Mail: Mail{Tags: map[string][]string{MailIDTag: {v}}}}
		if got, ok := MailID(e); !ok || got != id {
			t.Errorf("MailID of %q = %q, %v", v, got, ok)
		}
	}
	if v := MailIDTagValue("order-1/receipt"); v != "order-1_sreceipt" {
		t.Errorf("a short id is not kept readable: %q", v)
	}
}

func TestMailIDTagRefusesBadValues(t *testing.T) {
	for _, v := range []string{"trailing_", "_x", "_zé", "order/1"} {
		e := Event{Mail: Mail{Tags: map[string][]string{MailIDTag: {v}}}}
		if id, ok := MailID(e); ok {
			t.Errorf("%q read as %q", v, id)
		}
	}
}

func FuzzMailIDTagValue(f *testing.F) {
	f.Add("order-1/receipt")
	f.Fuzz(func(t *testing.T, id string) {
		if !mailIDPattern.MatchString(id) {
			return
		}
		v := MailIDTagValue(id)
		if got, ok := decodeMailIDTag(v); !sesTagValue.MatchString(v) || !ok || got != id {
			t.Fatalf("%q → %q → %q, %v", id, v, got, ok)
		}
	})
}
