package eventbridge_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	awseb "github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/mailflow/mailflow/notify/eventbridge"
	"github.com/mailflow/mailflow/testkit"
	"github.com/mailflow/mailflow/workflow"
)

// busEndpoint answers PutEvents as EventBridge's JSON 1.1 protocol does,
// refusing the entries whose detail contains refuse. No EventBridge
// emulator exists among the tools this project can run, so the endpoint
// is the test's own; the SDK still builds, signs and parses every byte.
type busEndpoint struct {
	mu      sync.Mutex
	entries []map[string]any
	refuse  string
}

func (b *busEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Amz-Target") != "AWSEvents.PutEvents" || !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		http.Error(w, "not a signed PutEvents", http.StatusBadRequest)
		return
	}
	var in struct{ Entries []map[string]any }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	type result struct {
		EventId      string `json:",omitempty"`
		ErrorCode    string `json:",omitempty"`
		ErrorMessage string `json:",omitempty"`
	}
	out := struct {
		FailedEntryCount int
		Entries          []result
	}{}
	for _, e := range in.Entries {
		if b.refuse != "" && strings.Contains(e["Detail"].(string), b.refuse) {
			out.FailedEntryCount++
			out.Entries = append(out.Entries, result{ErrorCode: "InternalFailure", ErrorMessage: "try again"})
			continue
		}
		b.entries = append(b.entries, e)
		out.Entries = append(out.Entries, result{EventId: "ev"})
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(out)
}

func events(n int) []workflow.OutcomeEvent {
	var out []workflow.OutcomeEvent
	for i := range n {
		out = append(out, workflow.OutcomeEvent{Version: 1, ID: "ev-" + string(rune('a'+i)), Type: workflow.EventDelivered,
			MailID: "order-1", Time: time.Date(2026, 3, 2, 10, 0, i, 0, time.UTC), Recipient: "ada@example.org", SESMessageID: "0102-x"})
	}
	return out
}

func TestPublishPutsEveryEventOnTheBus(t *testing.T) {
	bus := &busEndpoint{}
	srv := httptest.NewServer(bus)
	defer srv.Close()
	p, err := eventbridge.New(awseb.NewFromConfig(testkit.AWSConfig(srv.URL)), "mailflow-outcomes")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(context.Background(), events(23)); err != nil {
		t.Fatal(err)
	}
	if len(bus.entries) != 23 {
		t.Fatalf("%d entries on the bus", len(bus.entries))
	}
	e := bus.entries[0]
	if e["Source"] != eventbridge.Source || e["DetailType"] != eventbridge.DetailType || e["EventBusName"] != "mailflow-outcomes" {
		t.Fatalf("entry %v", e)
	}
	got, err := workflow.ParseOutcomeEvent([]byte(e["Detail"].(string)))
	if err != nil || got.ID != "ev-a" || got.Type != workflow.EventDelivered {
		t.Fatalf("detail %v: %v", got, err)
	}
}

func TestPublishReportsRefusedEntries(t *testing.T) {
	bus := &busEndpoint{refuse: `"ev-c"`}
	srv := httptest.NewServer(bus)
	defer srv.Close()
	p, _ := eventbridge.New(awseb.NewFromConfig(testkit.AWSConfig(srv.URL)), "mailflow-outcomes")
	err := p.Publish(context.Background(), events(5))
	if err == nil || !strings.Contains(err.Error(), "ev-c (InternalFailure") || !strings.Contains(err.Error(), "refused 1 of 5") {
		t.Fatalf("error %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := eventbridge.New(nil, "bus"); err == nil {
		t.Error("no client accepted")
	}
	if _, err := eventbridge.New(awseb.New(awseb.Options{}), " "); err == nil {
		t.Error("blank bus accepted")
	}
}
