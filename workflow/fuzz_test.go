package workflow_test

import (
	"encoding/json"
	"testing"

	"github.com/mailflow/mailflow/workflow"
)

// FuzzParse shows that Parse never panics, never accepts a message that
// Validate rejects, and that an accepted message survives a round trip.
func FuzzParse(f *testing.F) {
	for _, body := range workflow.TableBodies(f) {
		f.Add(body)
	}
	f.Add([]byte(`{"version":1,"mailId":"m","to":["a@example.org"],"to":["b@example.org"],"subject":"s","text":"t"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := workflow.Parse(body, testLimits)
		if err != nil {
			return
		}
		if err := workflow.Validate(&m, testLimits); err != nil {
			t.Fatalf("Parse accepted %q but Validate rejects it: %v", body, err)
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := workflow.Parse(again, testLimits)
		if err != nil {
			t.Fatalf("accepted %q, but not its re-encoding %q: %v", body, again, err)
		}
		if m2.MailID != m.MailID || m2.Subject != m.Subject || len(m2.Recipients()) != len(m.Recipients()) {
			t.Fatalf("round trip changed the message: %+v vs %+v", m, m2)
		}
	})
}
