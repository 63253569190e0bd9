package execstore

import (
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/workflow"
)

func TestHistoryRoundTrip(t *testing.T) {
	t.Parallel()
	ts := time.Date(2026, 11, 25, 10, 0, 0, 123_000_000, time.UTC)
	events := []Event{
		{ID: 1, Type: "ExecutionStarted", Timestamp: ts, Details: json.RawMessage(`{"input":[{"body":"ünïcode \"quoted\""}]}`)},
		{ID: 2, PreviousID: 1, Type: "TaskStateEntered"},                                              // no timestamp, no details
		{ID: 3, PreviousID: 2, Type: "Odd", Timestamp: ts, Details: json.RawMessage("not json \x00")}, // kept byte for byte
		{ID: 1 << 40, PreviousID: -1, Type: strings.Repeat("T", 300), Timestamp: time.UnixMilli(0).UTC(), Details: json.RawMessage(strings.Repeat(`{"a":1}`, 1))},
	}
	blob, err := encodeHistory(events)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeHistory(historyEncoding, blob)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, events) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, events)
	}
	if empty, _ := encodeHistory(nil); empty == nil {
		t.Fatal("an empty history encodes to nothing")
	} else if got, err := decodeHistory(historyEncoding, empty); err != nil || len(got) != 0 {
		t.Fatalf("empty history: %v, %v", got, err)
	}
}

func TestHistoryCompresses(t *testing.T) {
	t.Parallel()
	var events []Event
	details := json.RawMessage(`{"name":"Send","input":{"messageId":"0b4f1c7e","body":"{\"version\":1,\"mailId\":\"order-1\",\"to\":[\"ann@example.org\"]}"}}`)
	for i := range 200 {
		events = append(events, Event{ID: int64(i + 1), PreviousID: int64(i), Type: "TaskScheduled", Timestamp: time.UnixMilli(int64(1e12 + i)), Details: details})
	}
	blob, err := encodeHistory(events)
	if err != nil {
		t.Fatal(err)
	}
	if raw := 200 * len(details); len(blob)*5 > raw {
		t.Fatalf("history of %d bytes of details compressed to %d bytes, expected at least 5x smaller", raw, len(blob))
	}
}

func TestHistoryRefusesCorruptData(t *testing.T) {
	t.Parallel()
	blob, err := encodeHistory([]Event{{ID: 1, Type: "ExecutionStarted", Details: json.RawMessage(`{}`)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeHistory("json", blob); err == nil || !strings.Contains(err.Error(), `unknown history encoding "json"`) {
		t.Fatalf("unknown encoding: %v", err)
	}
	if _, err := decodeHistory(historyEncoding, blob[:len(blob)-3]); err == nil {
		t.Fatal("a truncated history decoded")
	}
	enc, _, _ := zstdCodec()
	for _, raw := range [][]byte{{}, {5}, {1, 2, 2, 0xff}, append(rawOf(blob), 0)} {
		if _, err := decodeHistory(historyEncoding, enc.EncodeAll(raw, nil)); err == nil {
			t.Fatalf("corrupt history %x decoded", raw)
		}
	}
}

// rawOf is a history before compression.
func rawOf(blob []byte) []byte {
	_, dec, _ := zstdCodec()
	raw, _ := dec.DecodeAll(blob, nil)
	return raw
}

func FuzzDecodeHistory(f *testing.F) {
	enc, _, _ := zstdCodec()
	blob, _ := encodeHistory([]Event{{ID: 1, Type: "ExecutionStarted", Details: json.RawMessage(`{}`)}, {ID: 2, PreviousID: 1, Type: "ExecutionSucceeded"}})
	f.Add(rawOf(blob))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		events, err := decodeHistory(historyEncoding, enc.EncodeAll(raw, nil))
		if err != nil {
			return
		}
		again, err := encodeHistory(events)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodeHistory(historyEncoding, again)
		if err != nil || !reflect.DeepEqual(back, events) {
			t.Fatalf("re-encoded history differs: %v", err)
		}
	})
}

// A database written when histories were kept one row per event still
// shows them.
func TestEventsFromRowsOfEarlierDatabases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "executions.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id := "arn:aws:states:us-east-1:000000000000:express:mail:old:1"
	if err := s.Start(ctx, Execution{ID: id, Name: "old", StateMachine: "mail", StartedAt: time.UnixMilli(1e12)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec(`INSERT INTO events (execution_id, id, previous_id, type, ts, details) VALUES (?, 1, 0, 'ExecutionStarted', 1000000000000, '{"input":{}}'), (?, 2, 1, 'ExecutionSucceeded', NULL, NULL)`, id, id); err != nil {
		t.Fatal(err)
	}
	got, err := s.Events(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	want := []Event{
		{ID: 1, Type: "ExecutionStarted", Timestamp: time.UnixMilli(1e12).UTC(), Input: json.RawMessage(`{}`), Details: json.RawMessage(`{"input":{}}`)},
		{ID: 2, PreviousID: 1, Type: "ExecutionSucceeded"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

// Events come back in id order, whatever order they were recorded in.
func TestEventsInIDOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "executions.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	recorded := []Event{{ID: 1, Type: "A"}, {ID: 3, PreviousID: 1, Type: "C"}, {ID: 2, PreviousID: 1, Type: "B"}}
	e := Execution{ID: "arn:x", Name: "x", StateMachine: "m", Status: asl.StatusSucceeded, Events: recorded}
	if err := s.Finish(ctx, e); err != nil {
		t.Fatal(err)
	}
	got, err := s.Events(ctx, e.ID)
	if err != nil || len(got) != 3 || got[0].Type != "A" || got[1].Type != "B" || got[2].Type != "C" {
		t.Fatalf("events %+v, %v", got, err)
	}
	if recorded[1].ID != 3 {
		t.Fatal("Finish reordered the caller's slice")
	}
}

// The executions table keeps the count of an execution's items, as it did
// when the store had its own execution type.
func TestItemCountStored(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "executions.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	e := Execution{ID: "arn:x", Name: "x", StateMachine: "m", Status: asl.StatusSucceeded,
		Items: []Item{{Index: 0, MessageID: "a", Outcome: workflow.OutcomeSent}, {Index: 1, MessageID: "b", Outcome: workflow.OutcomeSent}}}
	if err := s.Start(ctx, Execution{ID: e.ID, Name: e.Name, StateMachine: e.StateMachine}); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.db.QueryRow(`SELECT item_count FROM executions WHERE id = ?`, e.ID).Scan(&n); err != nil || n != 0 {
		t.Fatalf("item_count at start = %d, %v", n, err)
	}
	if err := s.Finish(ctx, e); err != nil {
		t.Fatal(err)
	}
	if err := s.db.QueryRow(`SELECT item_count FROM executions WHERE id = ?`, e.ID).Scan(&n); err != nil || n != 2 {
		t.Fatalf("item_count = %d, %v; want 2", n, err)
	}
}
