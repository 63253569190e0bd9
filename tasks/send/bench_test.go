package send_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/mailflow/mailflow/lock/memlock"
	"github.com/mailflow/mailflow/sender"
	"github.com/mailflow/mailflow/sender/sessender"
	"github.com/mailflow/mailflow/store/memstore"
	"github.com/mailflow/mailflow/tasks/send"
	"github.com/mailflow/mailflow/testkit"
	"github.com/mailflow/mailflow/testkit/tasktest"
)

// messageSize is a staged message carrying a 30 MB attachment.
const messageSize = 41_100_000

type discardSender struct{}

func (discardSender) Send(_ context.Context, m *sender.Message) (string, error) {
	return "ses-" + hex.EncodeToString(m.Raw[:4]), nil
}

// sesDiscard is an SES v2 endpoint that reads and drops each request.
func sesDiscard(tb testing.TB) sender.Sender {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"MessageId":"ses-bench"}`))
	}))
	tb.Cleanup(srv.Close)
	s, err := sessender.New(sesv2.NewFromConfig(testkit.AWSConfig(srv.URL)))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func sendSetup(tb testing.TB, snd sender.Sender) (func() error, *memlock.Table) {
	st := memstore.New()
	raw := make([]byte, messageSize)
	_, _ = rand.Read(raw)
	copy(raw, "Subject: big\r\n\r\n")
	if err := st.Put(context.Background(), "staging/big.eml", bytes.NewReader(raw), int64(len(raw))); err != nil {
		tb.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	locks := memlock.New()
	h, err := send.New(send.Config{Limits: tasktest.Limits, StagingPrefix: "staging/", Lease: lease, Retention: time.Hour},
		send.Deps{Locks: locks, Store: st, Sender: snd, Log: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	return func() error {
		n++
		id := "big-" + string(rune('a'+n%26)) + hex.EncodeToString([]byte{byte(n), byte(n >> 8)})
		_, err := h.Handle(context.Background(), send.In{MessageID: "m", MailID: id, Owner: "o", Body: tasktest.Body(tb, id, nil),
			Staged: send.Staged{Key: "staging/big.eml", Size: messageSize, SHA256: hex.EncodeToString(sum[:])}})
		return err
	}, locks
}

// BenchmarkSend30MB sends a staged 41 MB message (a 30 MB attachment):
// "handler" through the port alone, "sesv2" through the SDK to a local
// endpoint that drops the request.
func BenchmarkSend30MB(b *testing.B) {
	for name, snd := range map[string]sender.Sender{"handler": discardSender{}, "sesv2": sesDiscard(b)} {
		b.Run(name, func(b *testing.B) {
			run, _ := sendSetup(b, snd)
			b.ReportAllocs()
			b.SetBytes(messageSize)
			for b.Loop() {
				if err := run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestSendMemory: the handler itself holds the staged message once (SES v2
// takes raw content inline), and nothing more of comparable size.
func TestSendMemory(t *testing.T) {
	run, _ := sendSetup(t, discardSender{})
	if err := run(); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if err := run(); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("sending a %d-byte message allocated %d bytes in the handler", messageSize, allocated)
	if allocated > messageSize+messageSize/8 {
		t.Fatalf("allocated %d bytes, more than one copy of the message", allocated)
	}
}
