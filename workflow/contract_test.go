package workflow_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/mailflow/mailflow/workflow"
)

// TestDefinitionSpellsTheContract checks that the definition, which is data
// and so spells the contract's names itself, uses only the outcomes and
// error names defined as constants, and every end-state outcome of them.
func TestDefinitionSpellsTheContract(t *testing.T) {
	top := loadDefinition(t)
	inner := *top.States["ProcessRecords"].ItemProcessor
	var ends []workflow.Outcome
	for name, s := range inner.States {
		if !s.End {
			continue
		}
		o, _ := s.Parameters["outcome"].(string)
		if !slices.Contains(workflow.Outcomes(), workflow.Outcome(o)) || workflow.Outcome(o) == workflow.OutcomeUnfinished {
			t.Errorf("%s: outcome %q is not one of the item processor's outcomes", name, o)
		}
		ends = append(ends, workflow.Outcome(o))
	}
	for _, o := range workflow.Outcomes() {
		if o != workflow.OutcomeUnfinished && !slices.Contains(ends, o) {
			t.Errorf("no end state reports %q", o)
		}
	}

	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case string:
			if strings.HasPrefix(x, "Mail.") && !slices.Contains(workflow.ErrorNames(), workflow.ErrorName(x)) {
				t.Errorf("the definition names %q, which is not a mail error name", x)
			}
		}
	}
	var def any
	if err := json.Unmarshal(workflow.Definition(), &def); err != nil {
		t.Fatal(err)
	}
	walk(def)
}

// TestItemResultShape checks that ItemResult decodes what the end states output.
func TestItemResultShape(t *testing.T) {
	var r workflow.ItemResult
	in := `{"messageId":"m-1","mailId":"a","outcome":"retry-later","error":"Mail.Transient","retryLater":true,"failure":{"itemIdentifier":"m-1"}}`
	if err := json.Unmarshal([]byte(in), &r); err != nil {
		t.Fatal(err)
	}
	if r.MessageID != "m-1" || r.MailID != "a" || r.Outcome != workflow.OutcomeRetryLater || r.Error != string(workflow.Transient) ||
		!r.RetryLater || r.Failure == nil || r.Failure.ItemIdentifier != "m-1" || r.Outcome.Delivered() {
		t.Fatalf("decoded %+v", r)
	}
	out, err := json.Marshal(r)
	if err != nil || string(out) != in {
		t.Fatalf("encoded %s, %v; want %s", out, err, in)
	}
}
