package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/mailflow/mailflow/inspect"
)

// dlqListLimit bounds one listing of the page: an on-call engineer narrows
// a larger queue with the filters.
const dlqListLimit = 500

// dlqFilterOf reads a dead-letter filter from query parameters (the page
// keeps them in its URL). olderThan is a Go duration, like 24h.
func dlqFilterOf(q url.Values, now time.Time) (inspect.DeadLetterFilter, error) {
	f := inspect.DeadLetterFilter{Error: strings.TrimSpace(q.Get("error")), Reason: strings.TrimSpace(q.Get("reason")),
		MailID: strings.TrimSpace(q.Get("mailId")), RecipientDomain: strings.TrimSpace(q.Get("recipientDomain")), Now: now}
	if v := strings.TrimSpace(q.Get("olderThan")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return f, fmt.Errorf("olderThan %q: give a duration like 90s, 30m or 24h", v)
		}
		f.OlderThan = d
	}
	if err := f.Validate(); err != nil {
		return f, err
	}
	return f, nil
}

// dlqRequest is the body of the dead-letter actions: the page's filter, or
// the message ids the operator ticked.
type dlqRequest struct {
	Filter     map[string]string `json:"filter"`
	MessageIDs []string          `json:"messageIds"`
	MessageID  string            `json:"messageId"`
	DryRun     bool              `json:"dryRun"`
}

func (s *Server) readDLQRequest(w http.ResponseWriter, r *http.Request) (dlqRequest, inspect.DeadLetterFilter, bool) {
	var req dlqRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "request body: " + err.Error()})
		return req, inspect.DeadLetterFilter{}, false
	}
	q := url.Values{}
	for k, v := range req.Filter {
		switch k {
		case "error", "reason", "olderThan", "mailId", "recipientDomain":
			q.Set(k, v)
		default:
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("filter %q: not one of error, reason, olderThan, mailId, recipientDomain", k)})
			return req, inspect.DeadLetterFilter{}, false
		}
	}
	f, err := dlqFilterOf(q, s.o.Clock.Now())
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return req, f, false
	}
	for _, id := range req.MessageIDs {
		if strings.TrimSpace(id) == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "messageIds: an empty message id"})
			return req, f, false
		}
	}
	if len(req.MessageIDs) > 0 && !f.Empty() {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "give either a filter or messageIds, not both"})
		return req, f, false
	}
	return req, f, true
}

func (s *Server) dlq(w http.ResponseWriter, r *http.Request) {
	f, err := dlqFilterOf(r.URL.Query(), s.o.Clock.Now())
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	page, err := s.o.Backend.Queues.FindDeadLetters(r.Context(), inspect.DeadLetterQuery{Filter: f, Limit: dlqListLimit, Explain: s.o.Backend.Source})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": page.Messages, "scanned": page.Scanned, "more": page.Next != "",
		"selective": s.o.Backend.Queues.Store != nil, "now": s.o.Clock.Now()})
}

// redrive moves dead letters back to the source queue: all of them with a
// move task as SQS does, or those the filter or the ids select.
func (s *Server) redrive(w http.ResponseWriter, r *http.Request) {
	req, f, ok := s.readDLQRequest(w, r)
	if !ok {
		return
	}
	q := s.o.Backend.Queues
	switch {
	case len(req.MessageIDs) > 0:
		res, err := redriveIDs(r.Context(), q, req.MessageIDs)
		s.selective(w, res, err)
	case !f.Empty() || req.DryRun:
		res, err := q.RedriveSelected(r.Context(), f, s.o.Backend.Source, req.DryRun)
		s.selective(w, res, err)
	default:
		st, err := q.Redrive(r.Context(), func(m inspect.MoveStatus) { s.o.Hub.publish("redrive", m) })
		if err != nil {
			writeJSON(w, http.StatusBadGateway, map[string]any{"error": err.Error(), "status": st})
			return
		}
		writeJSON(w, http.StatusOK, st)
	}
}

// purge deletes the dead letters the filter selects (all with none); with
// dryRun it only counts them, for the page's confirmation.
func (s *Server) purge(w http.ResponseWriter, r *http.Request) {
	req, f, ok := s.readDLQRequest(w, r)
	if !ok {
		return
	}
	if len(req.MessageIDs) > 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "purge takes a filter; delete one message with /api/dlq/delete"})
		return
	}
	res, err := s.o.Backend.Queues.PurgeSelected(r.Context(), f, s.o.Backend.Source, req.DryRun)
	s.selective(w, res, err)
}

func (s *Server) deleteDeadLetter(w http.ResponseWriter, r *http.Request) {
	req, _, ok := s.readDLQRequest(w, r)
	if !ok {
		return
	}
	if strings.TrimSpace(req.MessageID) == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "messageId: required (the listing names each message's id)"})
		return
	}
	if err := s.o.Backend.Queues.DeleteDeadLetter(r.Context(), req.MessageID); err != nil {
		status := http.StatusBadGateway
		if errors.Is(err, inspect.ErrNoDeadLetterStore) {
			status = http.StatusNotImplemented
		} else if strings.Contains(err.Error(), "no message") {
			status = http.StatusNotFound
		}
		writeJSON(w, status, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"deleted": req.MessageID})
}

func (s *Server) selective(w http.ResponseWriter, res inspect.SelectiveResult, err error) {
	if err != nil {
		status := http.StatusBadGateway
		switch {
		case errors.Is(err, inspect.ErrNoDeadLetterStore):
			status = http.StatusNotImplemented
		case errors.Is(err, errNoSuchMessage):
			status = http.StatusNotFound
		}
		writeJSON(w, status, map[string]any{"error": err.Error(), "done": res.Done, "kept": res.Kept})
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// errNoSuchMessage is a named message that is not in the dead-letter queue.
var errNoSuchMessage = errors.New("no such message")

// redriveIDs moves the named dead letters back to the source queue, as
// [inspect.Queues.RedriveSelected] moves a filter's: each is sent with its
// body and message attributes, then deleted from the dead-letter queue. A
// named message that is not in the queue fails the request before
// anything moves.
func redriveIDs(ctx context.Context, q *inspect.Queues, ids []string) (inspect.SelectiveResult, error) {
	res := inspect.SelectiveResult{Done: []inspect.DeadLetter{}}
	if q.Store == nil {
		return res, fmt.Errorf("redriving chosen messages %w", inspect.ErrNoDeadLetterStore)
	}
	page, err := q.FindDeadLetters(ctx, inspect.DeadLetterQuery{})
	if err != nil {
		return res, err
	}
	byID := map[string]inspect.DeadLetter{}
	for _, d := range page.Messages {
		byID[d.MessageID] = d
	}
	for _, id := range ids {
		if _, ok := byID[id]; !ok {
			return res, fmt.Errorf("%w: %s in %s (it may have been redriven or deleted meanwhile)", errNoSuchMessage, id, q.DLQURL)
		}
	}
	res.Kept = len(page.Messages) - len(ids)
	// The attributes travel with the message, so read the raw messages.
	raw := map[string]*sqs.SendMessageInput{}
	after := ""
	for {
		msgs, more, err := q.Store.PeekDeadLetters(ctx, after, 500)
		if err != nil {
			return res, fmt.Errorf("read %s: %w", q.DLQURL, err)
		}
		for _, m := range msgs {
			if id := aws.ToString(m.MessageId); slices.Contains(ids, id) {
				raw[id] = &sqs.SendMessageInput{QueueUrl: aws.String(q.SourceURL), MessageBody: m.Body, MessageAttributes: m.MessageAttributes}
			}
		}
		if !more || len(msgs) == 0 {
			break
		}
		after = aws.ToString(msgs[len(msgs)-1].MessageId)
	}
	for i, id := range ids {
		in, ok := raw[id]
		if !ok {
			res.Kept += len(ids) - i
			return res, fmt.Errorf("message %s left %s meanwhile", id, q.DLQURL)
		}
		if _, err := q.API.SendMessage(ctx, in); err != nil {
			res.Kept += len(ids) - i
			return res, fmt.Errorf("send message %s to %s: %w", id, q.SourceURL, err)
		}
		if _, err := q.Store.DeleteDeadLetter(ctx, id); err != nil {
			return res, fmt.Errorf("message %s was sent to %s but stays in %s: %w", id, q.SourceURL, q.DLQURL, err)
		}
		res.Done = append(res.Done, byID[id])
	}
	return res, nil
}
