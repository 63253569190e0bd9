package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mailflow/mailflow/inspect"
	"github.com/mailflow/mailflow/suppression"
	"github.com/mailflow/mailflow/workflow"
)

// Suppression list commands. The list is mailflow's own (the pipeline
// dead-letters a mail to a listed address with Mail.Suppressed); SES's
// account-level suppression list is another list, which these commands do
// not change: `remove --aws` says how to change it.

func runSuppression(ctx context.Context, args []string, s Streams) error {
	return subcommands("suppression", map[string]func(context.Context, []string, Streams) error{
		"list":   runSuppressionList,
		"add":    runSuppressionAdd,
		"remove": runSuppressionRemove,
	}, []string{"list", "add", "remove"})(ctx, args, s)
}

// defaultSuppressionLimit is how many entries list shows without --limit.
const defaultSuppressionLimit = 100

// openSuppressions checks the backend options and opens the backend, or
// says where no suppression list is configured. The caller closes it.
func (o *backendOptions) openSuppressions(ctx context.Context, s Streams) (*inspect.Backend, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	b, err := o.open(ctx, s)
	if err != nil {
		return nil, err
	}
	if b.Suppressions == nil {
		b.Close()
		if o.useAWS {
			return nil, fmt.Errorf("no suppression list is configured for table %s", o.suppressionTable)
		}
		return nil, fmt.Errorf("data directory %s has no suppression list", o.data)
	}
	return b, nil
}

// entryView is an entry as --json prints it.
type entryView struct {
	Address      string             `json:"address"`
	Reason       suppression.Reason `json:"reason"`
	At           time.Time          `json:"at"`
	MailID       string             `json:"mailId,omitempty"`
	SESMessageID string             `json:"sesMessageId,omitempty"`
	FeedbackID   string             `json:"feedbackId,omitempty"`
	Bounce       any                `json:"bounce,omitempty"`
	Complaint    any                `json:"complaint,omitempty"`
	Note         string             `json:"note,omitempty"`
}

func viewOf(e suppression.Entry) entryView {
	v := entryView{Address: e.Address, Reason: e.Reason, At: e.At, MailID: e.MailID, SESMessageID: e.SESMessageID, FeedbackID: e.FeedbackID, Note: e.Note}
	if e.Bounce != nil {
		v.Bounce = e.Bounce
	}
	if e.Complaint != nil {
		v.Complaint = e.Complaint
	}
	return v
}

func runSuppressionList(ctx context.Context, args []string, s Streams) error {
	o := backendOptions{needSuppression: true}
	fs := newFlags("suppression list", s, "[--limit N] [--after ADDRESS] [flags]")
	o.register(fs)
	limit := fs.Int("limit", defaultSuppressionLimit, "at most this many entries (1..1000)")
	after := fs.String("after", "", "start after this address (the next page of a listing)")
	if _, err := parseInterleaved(fs, args, 0); err != nil {
		return err
	}
	var problems []string
	if *limit < 1 || *limit > 1000 {
		problems = append(problems, fmt.Sprintf("--limit %d is not within 1..1000", *limit))
	}
	if *after != "" {
		n, err := suppression.Normalize(*after)
		if err != nil {
			problems = append(problems, fmt.Sprintf("--after %q: %v", *after, err))
		}
		*after = n
	}
	if err := usageErrors(problems...); err != nil {
		return err
	}
	b, err := o.openSuppressions(ctx, s)
	if err != nil {
		return err
	}
	defer b.Close()
	list := b.Suppressions
	entries, next, err := list.List(ctx, suppression.ListParams{After: *after, Limit: *limit})
	if err != nil {
		return err
	}
	if o.jsonOut {
		views := make([]entryView, len(entries))
		for i, e := range entries {
			views[i] = viewOf(e)
		}
		return printJSON(s.Out, struct {
			Entries []entryView `json:"entries"`
			Next    string      `json:"next,omitempty"`
		}{views, next})
	}
	if len(entries) == 0 {
		if *after != "" {
			fmt.Fprintf(s.Out, "no entry after %s\n", *after)
		} else {
			fmt.Fprintln(s.Out, "the suppression list is empty")
		}
		return nil
	}
	tw := tabwriter.NewWriter(s.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDRESS\tREASON\tSINCE (UTC)\tFROM\tDETAIL")
	for _, e := range entries {
		from := "operator"
		if e.MailID != "" {
			from = "mail " + e.MailID
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Address, e.Reason, stamp(e.At), terminalSafe(from), terminalSafe(oneLine(entryDetail(e))))
	}
	tw.Flush()
	if next != "" {
		fmt.Fprintf(s.Out, "more: --after %s\n", next)
	}
	return nil
}

func entryDetail(e suppression.Entry) string {
	var parts []string
	if e.Bounce != nil {
		d := e.Bounce.Type + "/" + e.Bounce.SubType
		if e.Bounce.DiagnosticCode != "" {
			d += ": " + e.Bounce.DiagnosticCode
		}
		parts = append(parts, d)
	}
	if e.Complaint != nil && e.Complaint.FeedbackType != "" {
		parts = append(parts, "feedback type "+e.Complaint.FeedbackType)
	}
	if e.Note != "" {
		parts = append(parts, "note: "+e.Note)
	}
	return strings.Join(parts, "; ")
}

// addressArg reads the one ADDRESS argument in its normalised form.
func addressArg(rest []string) (string, error) {
	if len(rest) == 0 || strings.TrimSpace(rest[0]) == "" {
		return "", usagef("an ADDRESS is required")
	}
	n, err := suppression.Normalize(rest[0])
	if err != nil {
		return "", usagef("address %q: %v", rest[0], err)
	}
	return n, nil
}

// checkNote refuses a note the list would refuse, or that would garble a
// terminal when listed.
func checkNote(note string) error {
	switch {
	case len(note) > suppression.MaxNote:
		return fmt.Errorf("--note is %d bytes, at most %d", len(note), suppression.MaxNote)
	case !utf8.ValidString(note):
		return errors.New("--note is not valid UTF-8")
	}
	if i := strings.IndexFunc(note, unicode.IsControl); i >= 0 {
		return fmt.Errorf("--note has a control character (%q) at byte %d", note[i:i+1], i)
	}
	return nil
}

func runSuppressionAdd(ctx context.Context, args []string, s Streams) error {
	o := backendOptions{needSuppression: true}
	fs := newFlags("suppression add", s, "ADDRESS --reason BOUNCE|COMPLAINT [--note TEXT] [flags]")
	o.register(fs)
	reason := fs.String("reason", "", "why the address is suppressed: BOUNCE or COMPLAINT (required)")
	note := fs.String("note", "", fmt.Sprintf("an operator's note, at most %d bytes", suppression.MaxNote))
	rest, err := parseInterleaved(fs, args, 1)
	if err != nil {
		return err
	}
	var problems []string
	addr, err := addressArg(rest)
	if err != nil {
		problems = append(problems, err.Error())
	}
	r := suppression.Reason(strings.ToUpper(strings.TrimSpace(*reason)))
	switch {
	case *reason == "":
		problems = append(problems, fmt.Sprintf("--reason is required: %s or %s", suppression.Bounce, suppression.Complaint))
	case r != suppression.Bounce && r != suppression.Complaint:
		problems = append(problems, fmt.Sprintf("--reason %q is not %s or %s", *reason, suppression.Bounce, suppression.Complaint))
	}
	if err := checkNote(*note); err != nil {
		problems = append(problems, err.Error())
	}
	if err := usageErrors(problems...); err != nil {
		return err
	}
	b, err := o.openSuppressions(ctx, s)
	if err != nil {
		return err
	}
	defer b.Close()
	list := b.Suppressions
	prev, err := list.Lookup(ctx, []string{addr})
	if err != nil {
		return err
	}
	e := suppression.Entry{Address: addr, Reason: r, At: time.Now().UTC(), Note: *note}
	if err := list.Put(ctx, e); err != nil {
		return err
	}
	if o.jsonOut {
		return printJSON(s.Out, viewOf(e))
	}
	if len(prev) > 0 {
		fmt.Fprintf(s.Out, "replaced the entry of %s (was %s since %s)\n", addr, prev[0].Reason, stamp(prev[0].At))
	}
	fmt.Fprintf(s.Out, "suppressed %s (%s): mailflow dead-letters mail to it with %s until `mailflow suppression remove %s`\n",
		addr, r, workflow.Suppressed, addr)
	return nil
}

func runSuppressionRemove(ctx context.Context, args []string, s Streams) error {
	o := backendOptions{needSuppression: true}
	fs := newFlags("suppression remove", s, "ADDRESS [flags]")
	o.register(fs)
	rest, err := parseInterleaved(fs, args, 1)
	if err != nil {
		return err
	}
	addr, err := addressArg(rest)
	if err != nil {
		return err
	}
	b, err := o.openSuppressions(ctx, s)
	if err != nil {
		return err
	}
	defer b.Close()
	list := b.Suppressions
	found, err := list.Delete(ctx, addr)
	if err != nil {
		return err
	}
	sesNote := ""
	if o.useAWS {
		sesNote = sesSuppressionNote(addr, o.region)
	}
	if !found {
		msg := addr + " is not on the suppression list"
		if sesNote != "" {
			msg += "\n" + sesNote
		}
		return errors.New(msg)
	}
	if o.jsonOut {
		return printJSON(s.Out, struct {
			Address string `json:"address"`
			Removed bool   `json:"removed"`
			SESNote string `json:"sesNote,omitempty"`
		}{addr, true, sesNote})
	}
	fmt.Fprintf(s.Out, "removed %s from the suppression list: mailflow sends to it again\n", addr)
	if sesNote != "" {
		fmt.Fprintln(s.Out, sesNote)
	}
	return nil
}

// sesSuppressionNote tells the operator that SES keeps a list of its own.
func sesSuppressionNote(addr, region string) string {
	cmd := "aws sesv2 delete-suppressed-destination --email-address " + addr
	if region != "" {
		cmd += " --region " + region
	}
	return "note: SES's account-level suppression list is separate from mailflow's; if SES suppressed " + addr +
		" too, it still drops mail to it. Check with `aws sesv2 get-suppressed-destination --email-address " + addr +
		"` and remove it there with `" + cmd + "`"
}
