package contract_test

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/mailflow/mailflow/tasks/flowtest"

	acquirelock "github.com/mailflow/mailflow/tasks/acquire-lock"
	fetchattachments "github.com/mailflow/mailflow/tasks/fetch-attachments"
	releaselock "github.com/mailflow/mailflow/tasks/release-lock"
	reservesends "github.com/mailflow/mailflow/tasks/reserve-sends"
	"github.com/mailflow/mailflow/tasks/send"
	"github.com/mailflow/mailflow/testkit/tasktest"
	"github.com/mailflow/mailflow/workflow"
)

// jsonFields lists the JSON names of a struct's fields.
func jsonFields(v any) []string {
	var out []string
	t := reflect.TypeOf(v)
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// taskStates finds every lambda:invoke Task state by name.
func taskStates(t *testing.T) map[string]map[string]any {
	var def map[string]any
	if err := json.Unmarshal(workflow.Definition(), &def); err != nil {
		t.Fatal(err)
	}
	top := def["States"].(map[string]any)
	items := top["ProcessRecords"].(map[string]any)["ItemProcessor"].(map[string]any)["States"].(map[string]any)
	out := map[string]map[string]any{}
	for _, states := range []map[string]any{top, items} {
		for name, s := range states {
			st := s.(map[string]any)
			if st["Resource"] == "arn:aws:states:::lambda:invoke" {
				out[name] = st
			}
		}
	}
	return out
}

// TestPayloadsMatchTheDefinition checks that each Task state's Payload has
// exactly the input fields of its handler, and that its ResultSelector reads
// only fields the handler returns.
func TestPayloadsMatchTheDefinition(t *testing.T) {
	t.Parallel()
	handlers := map[string]struct{ in, out any }{
		"ReserveSends":         {reservesends.In{}, reservesends.Out{}},
		"AcquireLock":          {acquirelock.In{}, acquirelock.Out{}},
		"FetchAttachments":     {fetchattachments.In{}, fetchattachments.Out{}},
		"Send":                 {send.In{}, send.Out{}},
		"SendInline":           {send.In{}, send.Out{}},
		"ReleaseForDeadLetter": {releaselock.In{}, releaselock.Out{}},
		"ReleaseForRetry":      {releaselock.In{}, releaselock.Out{}},
	}
	states := taskStates(t)
	if len(states) != len(handlers) {
		t.Fatalf("the definition has task states %v", reflect.ValueOf(states).MapKeys())
	}
	for name, h := range handlers {
		st, ok := states[name]
		if !ok {
			t.Errorf("no task state %s", name)
			continue
		}
		payload := st["Parameters"].(map[string]any)["Payload"].(map[string]any)
		var keys []string
		for k := range payload {
			keys = append(keys, strings.TrimSuffix(k, ".$"))
		}
		sort.Strings(keys)
		if want := jsonFields(h.in); !reflect.DeepEqual(keys, want) {
			t.Errorf("%s: the definition sends %v, the handler reads %v", name, keys, want)
		}
		outFields := jsonFields(h.out)
		if sel, ok := st["ResultSelector"].(map[string]any); ok {
			for _, v := range sel {
				if v.(string) == "$.Payload" {
					continue // the whole result: every field passes through
				}
				field := strings.TrimPrefix(v.(string), "$.Payload.")
				if !contains(outFields, field) {
					t.Errorf("%s: ResultSelector reads %q, the handler returns %v", name, field, outFields)
				}
			}
		}
	}
	// Send's "staged" is FetchAttachments' whole result.
	if got, want := jsonFields(send.Staged{}), jsonFields(fetchattachments.Out{}); !reflect.DeepEqual(got, want) {
		t.Errorf("send.Staged %v differs from fetchattachments.Out %v", got, want)
	}
	// The outcome the Choice state tests is the handler's constant.
	if acquirelock.AlreadySent != "already-sent" {
		t.Errorf("AlreadySent = %q; the definition's Choice tests \"already-sent\"", acquirelock.AlreadySent)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestFlow chains the four handlers over in-memory adapters.
func TestFlow(t *testing.T) {
	t.Parallel()
	locks, _ := tasktest.MemLocks()
	st, _, _ := tasktest.MemStore()
	snd := tasktest.NewMemSender()
	flowtest.Run(t, flowtest.Services{Locks: locks, Store: st, Sender: snd, SenderHits: snd,
		Sent: func(*testing.T) []tasktest.SentMail { return snd.Sent() }})
}
