package workflow

import (
	"fmt"
	"mime"
	"regexp"
	"strings"
	"unicode/utf8"
)

// MaxContentTypeLength bounds an attachment's content type with its
// parameters.
const MaxContentTypeLength = 255

// mediaTypeName is type/subtype, each an RFC 6838 restricted-name.
var mediaTypeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$`)

// mediaTypeRule returns the rule an attachment's content type breaks, or
// "". An attachment is one leaf part: a multipart/* or message/* type would
// make the builder (or a reader) take the attachment's bytes as MIME
// structure, so those are refused. The parameters are parsed with
// mime.ParseMediaType and written again by the builder, never copied.
func mediaTypeRule(ct string) string {
	switch {
	case hasLineBreak(ct):
		return "must not contain CR, LF or NUL"
	case len(ct) > MaxContentTypeLength:
		return fmt.Sprintf("%d bytes, more than %d", len(ct), MaxContentTypeLength)
	case !utf8.ValidString(ct) || hasControl(ct, true):
		return "must be printable text"
	}
	base, _, _ := strings.Cut(ct, ";")
	base = strings.TrimRight(base, " \t")
	if !mediaTypeName.MatchString(base) {
		return fmt.Sprintf("%q is not a media type (type/subtype of RFC 6838 names, then optional parameters)", ct)
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Sprintf("%q: parameters do not parse: %v", ct, err)
	}
	// The builder writes the type back with mime.FormatMediaType, which
	// yields nothing for a parameter it cannot write (an empty name).
	if mime.FormatMediaType(mt, params) == "" {
		return fmt.Sprintf("%q: a parameter cannot be written back (empty or invalid name)", ct)
	}
	if typ, _, _ := strings.Cut(strings.ToLower(base), "/"); typ == "multipart" || typ == "message" {
		return fmt.Sprintf("%q is a container type: an attachment is a single part, so multipart/* and message/* are refused", base)
	}
	return ""
}

// filenameRule returns the rule an attachment's file name breaks, or "".
// Names are refused rather than silently rewritten, so the producer learns
// what the recipient would not see: no path separator, no control or
// bidirectional formatting character (which can disguise an extension),
// not "." or "..", at most MaxFilenameLength bytes of UTF-8. The builder
// writes the name with mime.FormatMediaType (RFC 2231 when not ASCII).
func filenameRule(name string) string {
	switch {
	case hasLineBreak(name):
		return "must not contain CR, LF or NUL"
	case len(name) > MaxFilenameLength:
		return fmt.Sprintf("%d bytes, more than %d", len(name), MaxFilenameLength)
	case !utf8.ValidString(name):
		return "not valid UTF-8"
	case strings.ContainsAny(name, `/\`):
		return "must not contain a path separator"
	case name == "." || name == "..":
		return fmt.Sprintf("%q is not a file name", name)
	case hasControl(name, false):
		return "must not contain control characters"
	case strings.ContainsFunc(name, isBidiFormat):
		return "must not contain bidirectional formatting characters (U+200E, U+200F, U+202A-U+202E, U+2066-U+2069)"
	}
	return ""
}

func isBidiFormat(r rune) bool {
	return r == 0x200e || r == 0x200f || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}
