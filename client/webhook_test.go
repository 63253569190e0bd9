package client_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailflow/mailflow/client"
)

var (
	hookSecret = []byte("whsec-current")
	hookOld    = []byte("whsec-previous")
	hookBody   = []byte(`{"version":1,"id":"e1","type":"accepted","mailId":"m","time":"2026-12-07T10:00:00Z"}`)
	hookNow    = time.Unix(1_765_101_600, 0)
)

const hookTolerance = 5 * time.Minute

// referenceMAC is the scheme written out independently of the package.
func referenceMAC(secret []byte, t int64, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(strconv.FormatInt(t, 10) + "." + string(body)))
	return hex.EncodeToString(m.Sum(nil))
}

func TestSignWebhookFormat(t *testing.T) {
	got := client.SignWebhook(hookSecret, hookBody, hookNow)
	want := "t=1765101600,v1=" + referenceMAC(hookSecret, hookNow.Unix(), hookBody)
	if got != want {
		t.Fatalf("SignWebhook = %q, want %q", got, want)
	}
}

func TestSignWebhookRefusesEmptySecret(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("SignWebhook signed with an empty secret")
		}
	}()
	client.SignWebhook(nil, hookBody, hookNow)
}

func TestVerifyWebhook(t *testing.T) {
	signed := client.SignWebhook(hookSecret, hookBody, hookNow)
	ts := "t=" + strconv.FormatInt(hookNow.Unix(), 10)
	v1 := func(secret []byte) string { return "v1=" + referenceMAC(secret, hookNow.Unix(), hookBody) }
	zeros := "v1=" + strings.Repeat("0", 64)
	tampered := bytes.Replace(hookBody, []byte("accepted"), []byte("bounced!"), 1)
	cases := []struct {
		name      string
		secret    []byte
		header    string
		body      []byte
		now       time.Time
		tolerance time.Duration
		want      error // nil: accepted
	}{
		{name: "valid", header: signed},
		{name: "valid at the edge of the tolerance", header: signed, now: hookNow.Add(hookTolerance)},
		{name: "valid from a clock ahead within tolerance", header: signed, now: hookNow.Add(-hookTolerance)},
		{name: "rotation: new secret second", header: ts + "," + v1(hookOld) + "," + v1(hookSecret)},
		{name: "rotation: receiver still on the old secret", secret: hookOld, header: ts + "," + v1(hookSecret) + "," + v1(hookOld)},
		{name: "unknown scheme ignored", header: ts + ",v0=abc," + v1(hookSecret)},
		{name: "tampered body", header: signed, body: tampered, want: client.ErrWebhookMismatch},
		{name: "body with a byte added", header: signed, body: append(append([]byte{}, hookBody...), ' '), want: client.ErrWebhookMismatch},
		{name: "wrong secret", secret: []byte("whsec-other"), header: signed, want: client.ErrWebhookMismatch},
		{name: "rotation without the receiver's secret", header: ts + "," + v1(hookOld) + "," + zeros, want: client.ErrWebhookMismatch},
		{name: "signature of another time", header: "t=" + strconv.FormatInt(hookNow.Unix()+1, 10) + "," + v1(hookSecret), want: client.ErrWebhookMismatch},
		{name: "stale", header: signed, now: hookNow.Add(hookTolerance + time.Second), want: client.ErrWebhookTimestamp},
		{name: "future", header: signed, now: hookNow.Add(-hookTolerance - time.Second), want: client.ErrWebhookTimestamp},
		{name: "huge timestamp", header: "t=999999999999999999," + v1(hookSecret), want: client.ErrWebhookTimestamp},
		{name: "missing header", header: "", want: client.ErrWebhookNoSignature},
		{name: "no t", header: v1(hookSecret), want: client.ErrWebhookMalformed},
		{name: "no v1", header: ts, want: client.ErrWebhookMalformed},
		{name: "t twice", header: ts + "," + ts + "," + v1(hookSecret), want: client.ErrWebhookMalformed},
		{name: "t negative", header: "t=-1," + v1(hookSecret), want: client.ErrWebhookMalformed},
		{name: "t leading zero", header: "t=0" + ts[2:] + "," + v1(hookSecret), want: client.ErrWebhookMalformed},
		{name: "t not a number", header: "t=now," + v1(hookSecret), want: client.ErrWebhookMalformed},
		{name: "t too long", header: "t=1234567890123456789," + v1(hookSecret), want: client.ErrWebhookMalformed},
		{name: "v1 upper-case", header: ts + "," + strings.ToUpper(v1(hookSecret)[3:]), want: client.ErrWebhookMalformed},
		{name: "v1 short", header: ts + "," + v1(hookSecret)[:66], want: client.ErrWebhookMalformed},
		{name: "v1 not hex", header: ts + ",v1=" + strings.Repeat("g", 64), want: client.ErrWebhookMalformed},
		{name: "space after comma", header: ts + ", " + v1(hookSecret), want: client.ErrWebhookMalformed},
		{name: "empty element", header: ts + ",," + v1(hookSecret), want: client.ErrWebhookMalformed},
		{name: "trailing comma", header: signed + ",", want: client.ErrWebhookMalformed},
		{name: "element without =", header: ts + ",v1", want: client.ErrWebhookMalformed},
		{name: "upper-case name", header: "T" + ts[1:] + "," + v1(hookSecret), want: client.ErrWebhookMalformed},
		{name: "too many v1", header: ts + strings.Repeat(","+zeros, 8) + "," + v1(hookSecret), want: client.ErrWebhookMalformed},
		{name: "too long", header: ts + "," + v1(hookSecret) + ",x=" + strings.Repeat("a", 4096), want: client.ErrWebhookMalformed},
		{name: "empty secret", secret: []byte{}, header: signed, want: client.ErrWebhookConfig},
		{name: "negative tolerance", header: signed, tolerance: -1, want: client.ErrWebhookConfig},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			secret, body, now, tol := c.secret, c.body, c.now, c.tolerance
			if secret == nil {
				secret = hookSecret
			}
			if body == nil {
				body = hookBody
			}
			if now.IsZero() {
				now = hookNow
			}
			if tol == 0 {
				tol = hookTolerance
			}
			err := client.VerifyWebhook(secret, c.header, body, now, tol)
			switch {
			case c.want == nil && err != nil:
				t.Fatalf("VerifyWebhook refused a valid request: %v", err)
			case c.want != nil && !errors.Is(err, c.want):
				t.Fatalf("VerifyWebhook = %v, want %v", err, c.want)
			}
		})
	}
}

// FuzzVerifyWebhook: VerifyWebhook never panics on any header, and never
// accepts a body other than the one signed.
func FuzzVerifyWebhook(f *testing.F) {
	f.Add([]byte("secret"), []byte(`{"a":1}`), client.SignWebhook([]byte("secret"), []byte(`{"a":1}`), hookNow), uint16(0), byte(1))
	f.Add([]byte("k"), []byte{}, "t=1,v1=", uint16(3), byte(0x80))
	f.Add([]byte(""), []byte("x"), "t=1765101600,v1="+strings.Repeat("a", 64)+",v1=", uint16(9), byte(0xff))
	f.Fuzz(func(t *testing.T, secret, body []byte, header string, at uint16, flip byte) {
		if len(secret) == 0 {
			secret = []byte{0}
		}
		// Arbitrary headers: no panic; an accepted one holds the real signature.
		if client.VerifyWebhook(secret, header, body, hookNow, hookTolerance) == nil &&
			!strings.Contains(header, referenceMAC(secret, hookNow.Unix(), body)) {
			t.Fatalf("accepted header %q that does not sign the body", header)
		}
		signed := client.SignWebhook(secret, body, hookNow)
		if err := client.VerifyWebhook(secret, signed, body, hookNow, hookTolerance); err != nil {
			t.Fatalf("refused its own signature: %v", err)
		}
		// A mutated body: one byte changed, or one byte added.
		mutated := append([]byte{}, body...)
		if len(mutated) > 0 && flip != 0 {
			mutated[int(at)%len(mutated)] ^= flip
		} else {
			mutated = append(mutated, flip)
		}
		if err := client.VerifyWebhook(secret, signed, mutated, hookNow, hookTolerance); !errors.Is(err, client.ErrWebhookMismatch) {
			t.Fatalf("mutated body %q: VerifyWebhook = %v, want ErrWebhookMismatch", mutated, err)
		}
	})
}
