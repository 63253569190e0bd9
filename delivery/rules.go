package delivery

import (
	"slices"
	"strings"
	"time"

	"github.com/mailflow/mailflow/workflow"
)

// Rank orders the states of a recipient whose events carry the same time:
// a later stage of a delivery wins over an earlier one.
func Rank(t workflow.OutcomeEventType) int {
	switch t {
	case workflow.EventDelayed:
		return 1
	case workflow.EventDelivered:
		return 2
	case workflow.EventBounced:
		return 3
	case workflow.EventComplained:
		return 4
	}
	return 0
}

// wholeRank orders whole-mail states at the same time.
func wholeRank(t workflow.OutcomeEventType) int {
	switch t {
	case workflow.EventAccepted:
		return 1
	case workflow.EventSent:
		return 2
	case workflow.EventRejected, workflow.EventRenderingFailed:
		return 3
	case workflow.EventDeadLettered:
		return 4
	}
	return 0
}

// Merge applies events to cur (nil, or expired at p.Now: a fresh record)
// and returns the next record and the events that were new. It does not
// change cur. Version and UpdatedAt are the adapter's to set.
func Merge(cur *Mail, p ApplyParams) (Mail, []Event) {
	var next Mail
	if cur != nil && p.Now.Before(cur.ExpiresAt) {
		next = *cur
		next.Recipients = slices.Clone(cur.Recipients)
		next.History = slices.Clone(cur.History)
		if cur.DeadLetter != nil {
			d := *cur.DeadLetter
			next.DeadLetter = &d
		}
	} else {
		next = Mail{MailID: p.MailID}
		if cur != nil {
			next.Version = cur.Version
		}
	}
	if p.ExpiresAt.After(next.ExpiresAt) {
		next.ExpiresAt = p.ExpiresAt
	}
	var applied []Event
	for _, e := range p.Events {
		if slices.ContainsFunc(next.History, func(h Event) bool { return h.ID == e.ID }) ||
			slices.ContainsFunc(applied, func(h Event) bool { return h.ID == e.ID }) {
			continue
		}
		if len(next.History) >= MaxHistory && historyOrder(e, next.History[0]) < 0 {
			// Older than all that is kept: the state it would set is
			// already superseded. (Judged in the history's own order, so
			// an event that would sort first and be trimmed at once is
			// not reported as new again on every redelivery.)
			continue
		}
		applied = append(applied, e)
		next.History = insertByTime(next.History, e)
		if next.SESMessageID == "" && e.SESMessageID != "" {
			next.SESMessageID = e.SESMessageID
		}
		if e.Type.PerRecipient() {
			next.Recipients = setRecipient(next.Recipients, e)
			if e.Type == workflow.EventDelivered && next.DeadLetter != nil && e.Time.After(next.DeadLetter.At) {
				next.DeadLetter = nil // delivered after all: the dead letter is stale
			}
		} else if later(e.Time, wholeRank(e.Type), next.StateAt, wholeRank(next.State)) {
			next.State, next.StateAt = e.Type, e.Time
			next.DeadLetter = nil
			if e.Type == workflow.EventDeadLettered {
				next.DeadLetter = deadLetterOf(e)
			}
		}
	}
	if len(next.History) > MaxHistory {
		next.History = slices.Clone(next.History[len(next.History)-MaxHistory:])
	}
	return next, applied
}

// later reports whether (t, rank) supersedes (curT, curRank).
func later(t time.Time, rank int, curT time.Time, curRank int) bool {
	if curT.IsZero() {
		return true
	}
	return t.After(curT) || (t.Equal(curT) && rank > curRank)
}

func insertByTime(h []Event, e Event) []Event {
	i, _ := slices.BinarySearchFunc(h, e, historyOrder)
	return slices.Insert(h, i, e)
}

// historyOrder is the history's order: by time, then by ID.
func historyOrder(a, b Event) int {
	if c := a.Time.Compare(b.Time); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

func setRecipient(rs []Recipient, e Event) []Recipient {
	i, found := slices.BinarySearchFunc(rs, e.Recipient, func(r Recipient, a string) int { return strings.Compare(r.Address, a) })
	nr := Recipient{Address: e.Recipient, State: e.Type, At: e.Time, Bounce: e.Bounce, Complaint: e.Complaint}
	if !found {
		return slices.Insert(rs, i, nr)
	}
	if later(e.Time, Rank(e.Type), rs[i].At, Rank(rs[i].State)) {
		rs[i] = nr
	}
	return rs
}
