package send_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/mailflow/mailflow/lock/memlock"
	"github.com/mailflow/mailflow/sender"
	"github.com/mailflow/mailflow/store/memstore"
	"github.com/mailflow/mailflow/tasks/send"
	"github.com/mailflow/mailflow/testkit/tasktest"
)

// capture is a sender that keeps the envelope it was handed.
type capture struct{ got *sender.Message }

func (c *capture) Send(_ context.Context, m *sender.Message) (string, error) {
	c.got = m
	return "ses-1", nil
}

// SES takes no SMTPUTF8: an IDN domain reaches it as an A-label in the
// envelope, and a display name never does.
func TestEnvelopeInALabels(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	locks, st, snd := memlock.New(), memstore.New(), &capture{}
	clk := tasktest.NewClock()
	h, err := send.New(send.Config{Limits: tasktest.Limits, StagingPrefix: tasktest.StagingPrefix, Lease: lease, Retention: 24 * time.Hour},
		send.Deps{Locks: locks, Store: st, Sender: snd, Clock: clk, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	raw := []byte("From: billing@example.com\r\nTo: ann@xn--bcher-kva.example\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nx\r\n")
	key := tasktest.StagingPrefix + "idn-1/exec_msg.eml"
	if err := st.Put(ctx, key, bytes.NewReader(raw), int64(len(raw))); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	in := send.In{MessageID: "msg", MailID: "idn-1", Owner: "exec/msg",
		Body: tasktest.Body(t, "idn-1", func(m map[string]any) {
			m["to"] = []string{"Ann <ann@bücher.example>"}
			m["cc"] = []string{"bob@münchen.example"}
		}),
		Staged: send.Staged{Key: key, Size: int64(len(raw)), SHA256: hex.EncodeToString(sum[:])}}
	if _, err := h.Handle(ctx, in); err != nil {
		t.Fatal(err)
	}
	if snd.got == nil || len(snd.got.To) != 1 || snd.got.To[0] != "ann@xn--bcher-kva.example" ||
		len(snd.got.Cc) != 1 || snd.got.Cc[0] != "bob@xn--mnchen-3ya.example" || snd.got.From != "billing@example.com" {
		t.Fatalf("envelope %+v, want A-label addresses without display names", snd.got)
	}
}
