package dynamodelivery

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mailflow/mailflow/delivery"
	"github.com/mailflow/mailflow/workflow"
)

// fullMail is a record at its bounds: MaxHistory bounces and
// MaxRecipients bounced recipients, each with a diagnostic code of diag
// bytes.
func fullMail(diag int) delivery.Mail {
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	b := &workflow.EventBounce{Type: "Permanent", SubType: "General", DiagnosticCode: strings.Repeat("x", diag)}
	m := delivery.Mail{MailID: strings.Repeat("m", 128), SESMessageID: strings.Repeat("s", 64), State: workflow.EventSent,
		StateAt: t0, Version: 1, UpdatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	for i := range workflow.MaxRecipients {
		m.Recipients = append(m.Recipients, delivery.Recipient{Address: fmt.Sprintf("%s%02d@example.com", strings.Repeat("r", 60), i),
			State: workflow.EventBounced, At: t0, Bounce: b})
	}
	for i := range delivery.MaxHistory {
		m.History = append(m.History, delivery.Event{ID: fmt.Sprintf("%s-%02d", strings.Repeat("e", 100), i), Type: workflow.EventBounced,
			Recipient: m.Recipients[i].Address, Time: t0, SESMessageID: m.SESMessageID, Bounce: b})
	}
	return m
}

func TestItemSize(t *testing.T) {
	item, err := encode(fullMail(1024))
	if err != nil {
		t.Fatal(err)
	}
	n := itemSize(item)
	t.Logf("a full record with 1 KB diagnostic codes: %d bytes", n)
	if n > maxItemBytes/3 {
		t.Errorf("a full record is %d bytes, want well under %d", n, maxItemBytes)
	}
	// An item over the bound is refused before DynamoDB sees it, naming
	// the mail and the size.
	s := &Store{api: nil, table: "t"}
	err = s.write(t.Context(), fullMail(8000), 0)
	if err == nil || !strings.Contains(err.Error(), "bytes, more than") {
		t.Errorf("oversized record: %v", err)
	}
}
