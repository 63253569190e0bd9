// Package workflow is the mail contract shared by every part of mailflow: the
// queue message (schema version 1), the error names the tasks raise, the
// EventBridge Pipes record and batch-result shapes, and the state-machine
// definition that runs on AWS and locally.
//
// It is a leaf package: it imports nothing of ours, so tasks, adapters, the
// local runtime and the CDK app can all depend on it without cycles.
//
// # The message
//
// [Parse] decodes and validates a queue body against [Limits]. Validation is
// strict and reports every problem at once, each naming the field and the
// rule ("to[3]: not an e-mail address"). Decisions the architecture leaves
// open, taken here:
//
//   - Unknown fields are rejected at every level. A typo such as
//     "attachements" would otherwise drop the attachments silently.
//   - An explicit null is rejected for every field; omit the field instead.
//     (The JSON Schema says the same, so other languages agree.)
//   - Addresses are single RFC 5322 mailboxes, display names allowed, parsed
//     with net/mail. Group syntax and address lists in one string are refused.
//     [ParseMailbox] adds the rules net/mail does not check: the local part
//     is an ASCII dot-atom of at most 64 octets (quoted local parts are
//     refused, since net/mail unquotes them and `"victim@evil"@x` would read
//     as another address; non-ASCII ones too, since SES does not support
//     SMTPUTF8), the domain passes IDNA (golang.org/x/net/idna, the lookup
//     profile with the Bidi rule and DNS lengths) and is a host name of two
//     or more labels, at most 255 octets, the address at most 254 (RFC 5321
//     path). No domain literals. An IDN domain is accepted and goes out in
//     A-labels: [Mailbox.Header] for the headers, [EnvelopeAddress] for the
//     envelope, which keeps a local part quoted when it must be.
//   - Extra header names are RFC 5322 ftext of at most 76 characters; the
//     [ReservedHeaders] (X-Mailflow-*, X-SES-*, and what mailflow or a relay
//     writes) are refused in one problem at "headers" that lists them, and
//     so are names that differ only in case. Values are UTF-8 of at most
//     2,048 bytes with no control character but the tab.
//   - An attachment's contentType is one RFC 6838 media type; its
//     parameters must parse with mime.ParseMediaType, and multipart/* and
//     message/* are refused: an attachment is a single part, and a container
//     type would let its bytes become MIME structure. File names are refused
//     rather than rewritten when they hold a path separator, a control or
//     bidirectional formatting character, or are . or ..; at most 255 bytes.
//   - A lone surrogate escape ("\ud800") anywhere in the body is refused
//     before decoding: decoders read it as U+FFFD, so what was validated
//     would differ from what the producer wrote. [Validate] checks every
//     string for valid UTF-8 itself, for Go producers that skip Parse.
//   - "from" may be omitted only when Limits.DefaultSender is set; the
//     effective sender is then [Message.Sender]. A sender is allowed when its
//     address, or its domain, is listed in Limits.AllowedSenders (SES
//     identities are addresses or domains).
//   - The 998-byte subject bound is checked on the UTF-8 bytes; the MIME
//     builder folds encoded words, so the header line limit holds after
//     encoding. The JSON Schema can only count characters (maxLength), so it
//     is looser than Go for non-ASCII subjects.
//   - Body keys (textKey, htmlKey) and attachment keys must lie under
//     Limits.AttachmentPrefix and may not contain "." or ".." path segments,
//     so no adapter (S3 or a local directory) can be steered outside it.
//   - Header names compare case-insensitively against the allowlist; values
//     and names may not contain CR, LF or NUL.
//   - A name that appears twice in any object is refused, naming its path.
//     Parse reads the body in one pass over the tokens of jsontext
//     (github.com/go-json-experiment/json) rather than with encoding/json:
//     it runs several times per mail, and jsontext checks the grammar and
//     duplicate names without reflection or a second pass. The grammar,
//     unescaping and nesting limit are encoding/json's.
//
// # Errors
//
// The error names of the state machine are typed constants ([ErrorName]:
// [InvalidMessage], [Throttled], ...), defined here once; nothing else spells
// them. [Errorf] builds an [*Error] carrying one of them;
// [LambdaError] turns it into the value aws-lambda-go reports with exactly
// that errorType, which is what Retry and Catch match on.
//
// # Results
//
// Each record of a batch ends with an [ItemResult] naming its [Outcome]
// ([OutcomeSent], [OutcomeAlreadySent], [OutcomeDeadLettered],
// [OutcomeRetryLater]; readers give [OutcomeUnfinished] to a record whose
// iteration reported none). The definition (mail.asl.json) is data owned by
// this package and spells the same names; its tests check it against the
// constants.
//
// # Outcome events
//
// [OutcomeEvent] (schema outcome-event version 1, [OutcomeEventSchemaV1])
// is what a producer learns about its mail: one event per state change.
// [ParseOutcomeEvent] is as strict as [Parse]: unknown fields, nulls and
// duplicate names are refused, and every problem names its field.
// Decisions:
//
//   - recipient is required for the per-recipient types (delivered,
//     bounced, complained, delayed) and refused for the others, so a
//     receiver never guesses whether an event covers one address or all.
//     It is a bare envelope address obeying [ParseMailbox].
//   - sesMessageId is required once SES has the mail, refused on accepted,
//     optional on dead-lettered (a mail can die before or after a send).
//   - reason, bounce and complaint belong to exactly one type each and are
//     refused elsewhere. bounce.type is one of SES's three types; sub-types
//     and feedback types are only shape-checked, since SES adds new ones.
//   - time is checked against an RFC 3339 pattern first: time.Parse also
//     accepts a comma before the fraction. The schema cannot check the
//     calendar (month 13), so only Go does.
//   - Marshalling validates, so no invalid event is ever written.
package workflow
