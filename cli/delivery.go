package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/mailflow/mailflow/inspect"
)

// printDelivery writes the DELIVERY section of mail status: the whole-mail
// state, one line per recipient, then the event history.
func printDelivery(w io.Writer, st *inspect.MailStatus) {
	d := st.Delivery
	if d == nil {
		fmt.Fprintf(w, "delivery   %s\n", st.DeliveryNote)
		return
	}
	state := "no whole-mail event yet"
	if d.State != "" {
		state = fmt.Sprintf("%s at %s", d.State, stamp(d.StateAt))
	}
	if d.SESMessageID != "" {
		state += ", SES message id " + terminalSafe(d.SESMessageID)
	}
	fmt.Fprintln(w, "DELIVERY")
	fmt.Fprintf(w, "mail       %s\n", state)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(d.Recipients) == 0 {
		fmt.Fprintln(tw, "recipients none reported yet")
	}
	for _, r := range d.Recipients {
		detail := r.Detail()
		if sup := r.Suppressed; sup != nil {
			detail = strings.TrimSpace(detail + fmt.Sprintf("  (suppressed: %s since %s)", sup.Reason, stamp(sup.At)))
		}
		fmt.Fprintln(tw, cells("  "+terminalSafe(r.Address), string(r.State), stamp(r.At), terminalSafe(oneLine(detail))))
	}
	tw.Flush()
	fmt.Fprintf(w, "history    %d event(s)\n", len(d.History))
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, e := range d.History {
		fmt.Fprintln(tw, cells("  "+stamp(e.Time), string(e.Type), orDash(terminalSafe(e.Recipient)), terminalSafe(oneLine(e.Detail))))
	}
	tw.Flush()
}

// cells joins a table row's cells, leaving out empty trailing ones so that
// no line ends in blanks.
func cells(cs ...string) string {
	for len(cs) > 1 && cs[len(cs)-1] == "" {
		cs = cs[:len(cs)-1]
	}
	return strings.Join(cs, "\t")
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }

// terminalSafe escapes control characters: a diagnostic code is a remote
// server's text and must not move the cursor or recolour the terminal.
func terminalSafe(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			fmt.Fprintf(&b, "\\u%04x", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
