// Package suppressiontest is the conformance suite every [suppression.List]
// adapter must pass. An adapter's test calls [Run] with a function that
// hands out an empty list for one test:
//
//	func TestConformance(t *testing.T) {
//		suppressiontest.Run(t, func(t *testing.T) suppression.List { return newListInTempDir(t) })
//	}
//
// Adapters must keep times to the millisecond. List paging is tested for
// what every adapter promises (each entry once, pages within the limit, an
// end); its order is the adapter's (see the suppression package), so an
// adapter that promises address order tests that itself with [Sorted].
package suppressiontest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailflow/mailflow/suppression"
	"github.com/mailflow/mailflow/workflow"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Run runs the suite; newList returns an empty list and registers its own
// cleanup.
func Run(t *testing.T, newList func(t *testing.T) suppression.List) {
	t.Run("RoundTrip", func(t *testing.T) { t.Parallel(); testRoundTrip(t, newList(t)) })
	t.Run("ReplaceDelete", func(t *testing.T) { t.Parallel(); testReplaceDelete(t, newList(t)) })
	t.Run("LookupOrder", func(t *testing.T) { t.Parallel(); testLookupOrder(t, newList(t)) })
	t.Run("Paging", func(t *testing.T) { t.Parallel(); testPaging(t, newList(t)) })
	t.Run("Validation", func(t *testing.T) { t.Parallel(); testValidation(t, newList(t)) })
}

func norm(es []suppression.Entry) []suppression.Entry {
	if len(es) == 0 {
		return nil
	}
	es = slices.Clone(es)
	for i := range es {
		es[i].At = es[i].At.UTC()
	}
	return es
}

func same(t *testing.T, what string, got, want []suppression.Entry) {
	t.Helper()
	if g, w := norm(got), norm(want); !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got  %+v\n want %+v", what, g, w)
	}
}

func entry(addr string, reason suppression.Reason, msec int) suppression.Entry {
	return suppression.Entry{Address: addr, Reason: reason, At: t0.Add(time.Duration(msec) * time.Millisecond)}
}

func put(t *testing.T, l suppression.List, es ...suppression.Entry) {
	t.Helper()
	for _, e := range es {
		if err := l.Put(context.Background(), e); err != nil {
			t.Fatalf("put %s: %v", e.Address, err)
		}
	}
}

func testRoundTrip(t *testing.T, l suppression.List) {
	bounce := suppression.Entry{Address: "bounced@example.com", Reason: suppression.Bounce, At: t0.Add(1234 * time.Millisecond),
		MailID: "mail-1", SESMessageID: "0100018e-ses", FeedbackID: "0100018e-feedback",
		Bounce: &workflow.EventBounce{Type: "Permanent", SubType: "NoEmail", DiagnosticCode: "smtp; 550 5.1.1 no such user"}}
	complaint := suppression.Entry{Address: "complained@xn--bcher-kva.example", Reason: suppression.Complaint, At: t0.Add(5678 * time.Millisecond),
		MailID: "mail-2", SESMessageID: "0100018e-ses2", FeedbackID: "fb-2", Complaint: &workflow.EventComplaint{FeedbackType: "abuse"}}
	operator := suppression.Entry{Address: "operator@example.com", Reason: suppression.Complaint, At: t0.Add(9 * time.Millisecond),
		Note: "asked by phone — ticket ✓", Complaint: &workflow.EventComplaint{}}
	put(t, l, bounce, complaint, operator)
	got, err := l.Lookup(context.Background(), []string{bounce.Address, complaint.Address, operator.Address})
	if err != nil {
		t.Fatal(err)
	}
	same(t, "Lookup", got, []suppression.Entry{bounce, complaint, operator})
	if got, err := l.Lookup(context.Background(), nil); err != nil || len(got) != 0 {
		t.Errorf("Lookup of no address: %v, %v", got, err)
	}
}

func testReplaceDelete(t *testing.T, l suppression.List) {
	ctx := context.Background()
	first := entry("a@example.com", suppression.Bounce, 1)
	first.Bounce = &workflow.EventBounce{Type: "Permanent", SubType: "General"}
	second := entry("a@example.com", suppression.Complaint, 2)
	second.Note = "replaced"
	put(t, l, first, second, entry("b@example.com", suppression.Bounce, 3))
	got, err := l.Lookup(ctx, []string{"a@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	same(t, "Lookup after Put replaced the entry", got, []suppression.Entry{second})

	found, err := l.Delete(ctx, "a@example.com")
	if err != nil || !found {
		t.Fatalf("Delete: found=%v err=%v", found, err)
	}
	if found, err := l.Delete(ctx, "a@example.com"); err != nil || found {
		t.Errorf("second Delete: found=%v err=%v", found, err)
	}
	if found, err := l.Delete(ctx, "never@example.com"); err != nil || found {
		t.Errorf("Delete of an address never listed: found=%v err=%v", found, err)
	}
	got, err = l.Lookup(ctx, []string{"a@example.com", "b@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Address != "b@example.com" {
		t.Errorf("Lookup after Delete: %+v", got)
	}
	all := listAll(t, l, 10)
	if len(all) != 1 || all[0].Address != "b@example.com" {
		t.Errorf("List after Delete: %+v", all)
	}
}

// testLookupOrder asks for more addresses than DynamoDB's BatchGetItem
// takes at once (100), in an order that is neither sorted nor the order
// they were put in, with absent ones between and a repeated one.
func testLookupOrder(t *testing.T, l suppression.List) {
	var want []suppression.Entry
	var ask []string
	for i := 0; i < 250; i++ {
		addr := fmt.Sprintf("u%03d@example.com", (i*97)%250)
		ask = append(ask, addr)
		if i%3 == 0 {
			e := entry(addr, suppression.Bounce, i)
			put(t, l, e)
			want = append(want, e)
		}
	}
	ask = append(ask, ask[0])
	want = append(want, want[0])
	got, err := l.Lookup(context.Background(), ask)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "Lookup of 251 addresses", got, want)
}

// listAll pages through the list with limit, checking every page.
func listAll(t *testing.T, l suppression.List, limit int) []suppression.Entry {
	t.Helper()
	var all []suppression.Entry
	after := ""
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("List does not end")
		}
		page, next, err := l.List(context.Background(), suppression.ListParams{After: after, Limit: limit})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > limit {
			t.Fatalf("a page of %d entries, limit %d", len(page), limit)
		}
		if len(page) == 0 && next != "" {
			t.Fatalf("an empty page before the end (next %q)", next)
		}
		all = append(all, page...)
		if next == "" {
			return all
		}
		after = next
	}
}

func testPaging(t *testing.T, l suppression.List) {
	if page, next, err := l.List(context.Background(), suppression.ListParams{Limit: 10}); err != nil || len(page) != 0 || next != "" {
		t.Errorf("List of an empty list: %v %q %v", page, next, err)
	}
	var want []suppression.Entry
	for i := range 23 {
		e := entry(fmt.Sprintf("p%02d@example.com", 22-i), suppression.Complaint, i)
		put(t, l, e)
		want = append(want, e)
	}
	slices.SortFunc(want, func(a, b suppression.Entry) int { return strings.Compare(a.Address, b.Address) })
	for _, limit := range []int{1, 5, 23, 1000} {
		got := listAll(t, l, limit)
		slices.SortFunc(got, func(a, b suppression.Entry) int { return strings.Compare(a.Address, b.Address) })
		same(t, fmt.Sprintf("every entry once, pages of %d", limit), got, want)
	}
}

func testValidation(t *testing.T, l suppression.List) {
	ctx := context.Background()
	for name, e := range map[string]suppression.Entry{
		"upper case":     entry("Someone@Example.com", suppression.Bounce, 1),
		"unicode domain": entry("a@bücher.example", suppression.Bounce, 1),
		"display name":   entry("Someone <someone@example.com>", suppression.Bounce, 1),
		"not an address": entry("nobody", suppression.Bounce, 1),
		"bad reason":     entry("r@example.com", "OPERATOR", 1),
		"no time":        {Address: "z@example.com", Reason: suppression.Bounce},
		"long note":      {Address: "n@example.com", Reason: suppression.Bounce, At: t0, Note: strings.Repeat("x", suppression.MaxNote+1)},
	} {
		if err := l.Put(ctx, e); err == nil {
			t.Errorf("%s: Put accepted %+v", name, e)
		}
	}
	if all := listAll(t, l, 100); len(all) != 0 {
		t.Errorf("refused entries were stored: %+v", all)
	}
	for _, limit := range []int{0, -1, 1001} {
		if _, _, err := l.List(ctx, suppression.ListParams{Limit: limit}); err == nil {
			t.Errorf("List with limit %d accepted", limit)
		}
	}
}

// Sorted checks, for an adapter that promises it, that List pages in
// address order and that After is exclusive.
func Sorted(t *testing.T, l suppression.List) {
	put(t, l, entry("c@example.com", suppression.Bounce, 1), entry("a@example.com", suppression.Bounce, 2),
		entry("b@example.com", suppression.Bounce, 3), entry("d@example.com", suppression.Bounce, 4))
	page, next, err := l.List(context.Background(), suppression.ListParams{After: "a@example.com", Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 2 || page[0].Address != "b@example.com" || page[1].Address != "c@example.com" || next != "c@example.com" {
		t.Errorf("page after a@: %+v next %q, want b@, c@ and next c@", page, next)
	}
	page, next, err = l.List(context.Background(), suppression.ListParams{After: next, Limit: 2})
	if err != nil || len(page) != 1 || page[0].Address != "d@example.com" || next != "" {
		t.Errorf("last page: %+v next %q err %v, want d@ and the end", page, next, err)
	}
}
