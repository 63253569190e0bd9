package client

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Webhook header names.
const (
	WebhookSignatureHeader = "Mailflow-Signature"
	WebhookEventIDHeader   = "Mailflow-Event-Id"
)

const (
	maxWebhookHeader     = 4096
	maxWebhookSignatures = 8
)

// Errors of [VerifyWebhook]; the returned error wraps one of them and says
// what was wrong.
var (
	// ErrWebhookNoSignature: the signature header is empty or absent.
	ErrWebhookNoSignature = errors.New("webhook: no " + WebhookSignatureHeader + " header")
	// ErrWebhookMalformed: the header does not follow the scheme.
	ErrWebhookMalformed = errors.New("webhook: malformed " + WebhookSignatureHeader + " header")
	// ErrWebhookTimestamp: the signed time is further from now than the tolerance.
	ErrWebhookTimestamp = errors.New("webhook: timestamp outside the tolerance")
	// ErrWebhookMismatch: no v1 signature matches the secret and the body.
	ErrWebhookMismatch = errors.New("webhook: signature does not match")
	// ErrWebhookConfig: the receiver's own arguments are unusable (an empty
	// secret or a tolerance that is not positive).
	ErrWebhookConfig = errors.New("webhook: bad verifier configuration")
)

// SignWebhook returns the Mailflow-Signature header value for body sent at
// t, signed with secret. It panics on an empty secret, which would make
// every signature forgeable.
func SignWebhook(secret, body []byte, t time.Time) string {
	if len(secret) == 0 {
		panic("client.SignWebhook: empty secret")
	}
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + webhookMAC(secret, ts, body)
}

func webhookMAC(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// VerifyWebhook checks that header (the Mailflow-Signature value) signs
// body with secret at a time within tolerance of now. It returns nil only
// then; otherwise an error wrapping one of the ErrWebhook* values.
func VerifyWebhook(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if len(secret) == 0 {
		return fmt.Errorf("%w: empty secret", ErrWebhookConfig)
	}
	if tolerance <= 0 {
		return fmt.Errorf("%w: tolerance %v is not positive", ErrWebhookConfig, tolerance)
	}
	ts, sigs, err := parseWebhookHeader(header)
	if err != nil {
		return err
	}
	unix, _ := strconv.ParseInt(ts, 10, 64) // checked by the parser
	// Sub saturates, so a huge timestamp cannot wrap into the window.
	if d := now.Sub(time.Unix(unix, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: t=%s is %v from now, tolerance %v", ErrWebhookTimestamp, ts, d.Round(time.Second), tolerance)
	}
	want := []byte(webhookMAC(secret, ts, body))
	for _, s := range sigs {
		if hmac.Equal([]byte(s), want) {
			return nil
		}
	}
	return fmt.Errorf("%w: %d v1 signature(s), none for this secret and body", ErrWebhookMismatch, len(sigs))
}

// parseWebhookHeader splits the header into its timestamp and its v1
// signatures, refusing anything outside the scheme.
func parseWebhookHeader(header string) (ts string, sigs []string, err error) {
	if header == "" {
		return "", nil, ErrWebhookNoSignature
	}
	if len(header) > maxWebhookHeader {
		return "", nil, fmt.Errorf("%w: %d bytes, at most %d", ErrWebhookMalformed, len(header), maxWebhookHeader)
	}
	for i, el := range strings.Split(header, ",") {
		name, value, ok := strings.Cut(el, "=")
		if !ok || !validElementName(name) {
			return "", nil, fmt.Errorf("%w: element %d %s is not name=value", ErrWebhookMalformed, i, quoteShort(el))
		}
		switch name {
		case "t":
			if ts != "" {
				return "", nil, fmt.Errorf("%w: t given twice", ErrWebhookMalformed)
			}
			if !canonicalUnix(value) {
				return "", nil, fmt.Errorf("%w: t=%s is not unix seconds", ErrWebhookMalformed, quoteShort(value))
			}
			ts = value
		case "v1":
			if !lowerHex64(value) {
				return "", nil, fmt.Errorf("%w: v1=%s is not 64 lower-case hex digits", ErrWebhookMalformed, quoteShort(value))
			}
			if len(sigs) == maxWebhookSignatures {
				return "", nil, fmt.Errorf("%w: more than %d v1 signatures", ErrWebhookMalformed, maxWebhookSignatures)
			}
			sigs = append(sigs, value)
		}
	}
	if ts == "" {
		return "", nil, fmt.Errorf("%w: no t", ErrWebhookMalformed)
	}
	if len(sigs) == 0 {
		return "", nil, fmt.Errorf("%w: no v1 signature", ErrWebhookMalformed)
	}
	return ts, sigs, nil
}

// validElementName: a lower-case letter, then lower-case letters and digits.
func validElementName(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' || len(s) > 16 {
		return false
	}
	for i := 1; i < len(s); i++ {
		if (s[i] < 'a' || s[i] > 'z') && (s[i] < '0' || s[i] > '9') {
			return false
		}
	}
	return true
}

// canonicalUnix: 1 to 18 digits without a leading zero (or "0"), so every
// time has one spelling and ParseInt cannot overflow.
func canonicalUnix(s string) bool {
	if s == "" || len(s) > 18 || (s[0] == '0' && len(s) > 1) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func lowerHex64(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && (s[i] < 'a' || s[i] > 'f') {
			return false
		}
	}
	return true
}

// quoteShort quotes a value for an error, cut to 40 bytes.
func quoteShort(s string) string {
	if len(s) > 40 {
		return strconv.Quote(s[:40]) + "..."
	}
	return strconv.Quote(s)
}
