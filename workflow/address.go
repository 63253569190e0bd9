package workflow

import (
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Address bounds of RFC 5321 (section 4.5.3.1): a local part of 64 octets,
// a domain of 255, a path of 256 with its angle brackets, so 254 without.
const (
	MaxLocalPartOctets = 64
	MaxDomainOctets    = 255
	MaxAddressOctets   = 254
	// MaxMailboxBytes bounds a whole mailbox string, display name included:
	// one header line.
	MaxMailboxBytes = 998
)

// Mailbox is one address of a message as mailflow sends it: the display
// name, the local part as written, and the domain in A-labels (punycode,
// lower case), the form SES and SMTP take on the envelope.
type Mailbox struct {
	Name   string
	Local  string
	Domain string
}

// Address is the addr-spec of the mailbox, the local part quoted when it is
// not a dot-atom (RFC 5321 Quoted-string), so that a local part such as
// `"victim@evil"` stays one mailbox and never becomes another address.
func (b Mailbox) Address() string {
	if dotAtom.MatchString(b.Local) {
		return b.Local + "@" + b.Domain
	}
	var sb strings.Builder
	sb.WriteByte('"')
	for i := 0; i < len(b.Local); i++ {
		if c := b.Local[i]; c == '"' || c == '\\' {
			sb.WriteByte('\\')
		}
		sb.WriteByte(b.Local[i])
	}
	sb.WriteString(`"@`)
	sb.WriteString(b.Domain)
	return sb.String()
}

// Header is the mailbox for a header field: its display name and its
// address with the domain in A-labels.
func (b Mailbox) Header() *mail.Address {
	return &mail.Address{Name: b.Name, Address: b.Local + "@" + b.Domain}
}

// dotAtom is RFC 5321 Dot-string: atoms of atext joined by single dots.
var dotAtom = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")

// idnaProfile checks a domain as RFC 5891 section 5 looks it up (UTS #46
// mapping, the Bidi rule, STD3 host names) and bounds its DNS length.
var idnaProfile = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.VerifyDNSLength(true), idna.Transitional(false))

// ParseMailbox parses one RFC 5322 mailbox (a display name is allowed) and
// checks the rules every address of a message obeys: an ASCII local part
// (SES does not support SMTPUTF8, RFC 6531) that is a dot-atom, a domain
// that passes IDNA, and the RFC 5321 lengths. The error says which rule
// breaks and shows the value.
func ParseMailbox(s string) (Mailbox, error) {
	b, err := splitMailbox(s)
	if err != nil {
		return Mailbox{}, err
	}
	if !dotAtom.MatchString(b.Local) {
		return Mailbox{}, fmt.Errorf("local part %q must be a dot-atom (letters, digits, !#$%%&'*+/=?^_`{|}~- and single dots); quoted local parts are not accepted", b.Local)
	}
	return b, nil
}

// EnvelopeAddress is the addr-spec of mailbox s for the envelope (SES
// Destination, SMTP MAIL FROM and RCPT TO): the domain in A-labels, the
// local part quoted when it must be, so that it names the same mailbox.
// It checks the address rules of [ParseMailbox] except the dot-atom one,
// so a caller that skipped [Validate] still cannot have a quoted local part
// read as another address.
func EnvelopeAddress(s string) (string, error) {
	b, err := splitMailbox(s)
	if err != nil {
		return "", err
	}
	return b.Address(), nil
}

var errNotAddress = errors.New("not an e-mail address")

// splitMailbox parses s with net/mail and checks everything but the form of
// the local part.
func splitMailbox(s string) (Mailbox, error) {
	if len(s) > MaxMailboxBytes {
		return Mailbox{}, fmt.Errorf("%d bytes, more than %d", len(s), MaxMailboxBytes)
	}
	if !utf8.ValidString(s) {
		return Mailbox{}, errors.New("not valid UTF-8")
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return Mailbox{}, errNotAddress
	}
	at := strings.LastIndexByte(a.Address, '@')
	if at < 0 {
		return Mailbox{}, errNotAddress
	}
	// net/mail returns the local part unquoted: a domain holds no @, so
	// the last one ends the local part.
	local, domain := a.Address[:at], a.Address[at+1:]
	if local == "" {
		return Mailbox{}, errNotAddress
	}
	for i := 0; i < len(local); i++ {
		if c := local[i]; c >= utf8.RuneSelf {
			return Mailbox{}, fmt.Errorf("local part %q is not ASCII: SES does not support SMTPUTF8 (RFC 6531), so no mail to or from it can be sent", local)
		} else if c < ' ' || c == 0x7f {
			return Mailbox{}, fmt.Errorf("local part %q holds a control character", local)
		}
	}
	if len(local) > MaxLocalPartOctets {
		return Mailbox{}, fmt.Errorf("local part is %d octets, more than %d (RFC 5321)", len(local), MaxLocalPartOctets)
	}
	ascii, err := asciiDomain(domain)
	if err != nil {
		return Mailbox{}, err
	}
	b := Mailbox{Name: a.Name, Local: local, Domain: ascii}
	if n := len(b.Address()); n > MaxAddressOctets {
		return Mailbox{}, fmt.Errorf("address is %d octets, more than %d (RFC 5321 path)", n, MaxAddressOctets)
	}
	return b, nil
}

// asciiDomain checks a domain with IDNA and returns its A-label form.
func asciiDomain(domain string) (string, error) {
	if strings.HasPrefix(domain, "[") {
		return "", fmt.Errorf("domain literal %q is not accepted; use a domain name", domain)
	}
	if len(domain) > 4*MaxDomainOctets {
		// A Unicode domain is longer than its A-labels, but not by this much.
		return "", fmt.Errorf("domain is %d bytes, more than %d octets can hold", len(domain), MaxDomainOctets)
	}
	ascii, err := idnaProfile.ToASCII(domain)
	if err != nil {
		return "", fmt.Errorf("domain %q is not a valid domain name (IDNA): %v", domain, err)
	}
	switch {
	case len(ascii) > MaxDomainOctets:
		return "", fmt.Errorf("domain is %d octets, more than %d (RFC 5321)", len(ascii), MaxDomainOctets)
	case !domainPattern.MatchString(ascii):
		return "", fmt.Errorf("domain %q is not a host name of two or more labels", domain)
	}
	return ascii, nil
}
