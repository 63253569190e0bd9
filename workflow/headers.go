package workflow

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"
)

// MaxHeaderName bounds an extra header's name, so that the name and its
// colon fit one 78-character line.
const MaxHeaderName = 76

// allowedHeaders are the extra header names a message may set besides X-*.
var allowedHeaders = []string{"List-Unsubscribe", "List-Unsubscribe-Post", "In-Reply-To", "References"}

// ReservedHeaders are the header names a message may not set because
// mailflow writes them (the MIME builder: Date, Message-ID, the address
// fields, Subject, MIME-Version, Content-*; the local outbox: X-Mailflow-*)
// or a transport writes or acts on them (SES reads X-SES-* as its own
// configuration set, tags and ARNs; relays add Received, Return-Path,
// DKIM-Signature, ARC-*, Authentication-Results, Resent-*). A name ending
// in "*" is a prefix. Names compare case-insensitively.
var ReservedHeaders = []string{
	"X-Mailflow-*", "X-SES-*",
	"From", "Sender", "To", "Cc", "Bcc", "Reply-To", "Subject", "Date", "Message-ID",
	"MIME-Version", "Content-*",
	"Return-Path", "Received", "Received-SPF", "DKIM-Signature", "ARC-*", "Authentication-Results",
	"Resent-*", "Delivered-To", "Feedback-ID",
}

// ReservedHeader reports whether name is one of [ReservedHeaders].
func ReservedHeader(name string) bool {
	return slices.ContainsFunc(ReservedHeaders, func(r string) bool {
		if prefix, ok := strings.CutSuffix(r, "*"); ok {
			return len(name) >= len(prefix) && strings.EqualFold(name[:len(prefix)], prefix)
		}
		return strings.EqualFold(name, r)
	})
}

// headerName is RFC 5322 ftext: printable ASCII but the colon.
var headerName = regexp.MustCompile(`^[!-9;-~]+$`)

func headerAllowed(name string) bool {
	if len(name) > 2 && strings.EqualFold(name[:2], "X-") {
		return true
	}
	return slices.ContainsFunc(allowedHeaders, func(h string) bool { return strings.EqualFold(h, name) })
}

// checkHeaders checks the extra headers: reserved names and names that
// differ only in case are reported once each at "headers", listing them;
// every other broken rule at "headers.<name>".
func checkHeaders(p *problems, h map[string]string) {
	if len(h) > MaxHeaderCount {
		p.add("headers", "%d headers, more than %d", len(h), MaxHeaderCount)
	}
	names := make([]string, 0, len(h))
	for name := range h {
		names = append(names, name)
	}
	sort.Strings(names)

	var reserved []string
	byFold := map[string][]string{}
	var folds []string
	for _, name := range names {
		if ReservedHeader(name) {
			reserved = append(reserved, name)
		}
		k := strings.ToLower(name)
		if len(byFold[k]) == 0 {
			folds = append(folds, k)
		}
		byFold[k] = append(byFold[k], name)
	}
	if len(reserved) > 0 {
		p.add("headers", "reserved header names %s: mailflow, SES or a relay writes or acts on them (reserved: %s)",
			strings.Join(reserved, ", "), strings.Join(ReservedHeaders, ", "))
	}
	for _, k := range folds {
		if same := byFold[k]; len(same) > 1 {
			p.add("headers", "header names %s are the same header: names compare case-insensitively", strings.Join(same, ", "))
		}
	}

	for _, name := range names {
		field := "headers." + name
		switch {
		case !utf8.ValidString(name) || !headerName.MatchString(name):
			p.add(field, "not a valid header name (printable ASCII without a colon, RFC 5322)")
		case len(name) > MaxHeaderName:
			p.add(field, "name is %d bytes, more than %d", len(name), MaxHeaderName)
		case ReservedHeader(name):
			// reported above
		case !headerAllowed(name):
			p.add(field, "header name not allowed (X-*, %s)", strings.Join(allowedHeaders, ", "))
		}
		if rule := headerValueRule(h[name]); rule != "" {
			p.add(field, "%s", rule)
		}
	}
}

// headerValueRule returns the rule an extra header's value breaks, or "":
// UTF-8 of at most MaxHeaderValue bytes, with no control character but the
// tab (RFC 5322 unstructured text; non-ASCII is written as encoded words).
func headerValueRule(v string) string {
	switch {
	case hasLineBreak(v):
		return "must not contain CR, LF or NUL"
	case len(v) > MaxHeaderValue:
		return fmt.Sprintf("value is %d bytes, more than %d", len(v), MaxHeaderValue)
	case !utf8.ValidString(v):
		return "value is not valid UTF-8"
	case hasControl(v, true):
		return "value must not contain control characters (only the tab)"
	}
	return ""
}

// hasControl reports a C0 control character or DEL in s (the tab allowed
// when tab is true), or a C1 control.
func hasControl(s string, tab bool) bool {
	for _, r := range s {
		if (r < ' ' && !(tab && r == '\t')) || (r >= 0x7f && r <= 0x9f) {
			return true
		}
	}
	return false
}
