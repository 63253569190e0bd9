// Package eventbridge publishes outcome events to an EventBridge bus
// (PutEvents): source "mailflow", detail-type "mailflow.outcome", the
// event's JSON as the detail. A team subscribes with an ordinary rule on
// the stack's bus.
//
// PutEvents takes at most 10 entries and 256 KiB per call and may take
// some entries and refuse others (FailedEntryCount); Publish sends in
// chunks of 10 and reports an error naming the refused entries, and the
// caller publishes the batch again (receivers drop IDs they have seen).
// Adapters never retry beyond the SDK's own retries.
package eventbridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/mailflow/mailflow/notify"
	"github.com/mailflow/mailflow/workflow"
)

// Source and DetailType of every outcome event on the bus.
const (
	Source     = "mailflow"
	DetailType = "mailflow.outcome"
)

// maxEntries is PutEvents' limit per call.
const maxEntries = 10

// API is the part of the EventBridge client Publisher uses.
type API interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// Publisher puts outcome events on one bus.
type Publisher struct {
	api API
	bus string
}

var _ notify.Publisher = (*Publisher)(nil)

// New returns a publisher for the bus named bus (a name or an ARN).
func New(api API, bus string) (*Publisher, error) {
	if api == nil {
		return nil, errors.New("eventbridge: no client")
	}
	if strings.TrimSpace(bus) == "" {
		return nil, errors.New("eventbridge: no bus name")
	}
	return &Publisher{api: api, bus: bus}, nil
}

// Publish puts the events on the bus, 10 per call.
func (p *Publisher) Publish(ctx context.Context, events []workflow.OutcomeEvent) error {
	for start := 0; start < len(events); start += maxEntries {
		chunk := events[start:min(start+maxEntries, len(events))]
		entries := make([]types.PutEventsRequestEntry, len(chunk))
		for i, e := range chunk {
			detail, err := json.Marshal(e)
			if err != nil {
				return fmt.Errorf("eventbridge: event %s: %w", e.ID, err)
			}
			entries[i] = types.PutEventsRequestEntry{
				EventBusName: aws.String(p.bus), Source: aws.String(Source), DetailType: aws.String(DetailType),
				Detail: aws.String(string(detail)), Time: aws.Time(e.Time.UTC().Truncate(time.Millisecond)),
				Resources: []string{},
			}
		}
		out, err := p.api.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries})
		if err != nil {
			return fmt.Errorf("eventbridge: PutEvents to %s: %w", p.bus, err)
		}
		if out.FailedEntryCount > 0 {
			var failed []string
			for i, r := range out.Entries {
				if r.ErrorCode != nil && i < len(chunk) {
					failed = append(failed, fmt.Sprintf("%s (%s: %s)", chunk[i].ID, aws.ToString(r.ErrorCode), aws.ToString(r.ErrorMessage)))
				}
			}
			return fmt.Errorf("eventbridge: PutEvents to %s refused %d of %d entries: %s",
				p.bus, out.FailedEntryCount, len(chunk), strings.Join(failed, "; "))
		}
	}
	return nil
}
