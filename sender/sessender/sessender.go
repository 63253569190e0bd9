// Package sessender implements the [sender.Sender] port with the SES v2
// SendEmail API (raw content) of aws-sdk-go-v2.
//
// Error mapping, by exception type first and by message text only where SES
// gives no distinct type:
//
//   - a message containing "Daily message quota exceeded" (whatever its
//     type) → Mail.QuotaExhausted; AWS advises waiting minutes;
//   - TooManyRequestsException, and the query-protocol code "Throttling"
//     → Mail.Throttled;
//   - LimitExceededException → Mail.QuotaExhausted: a service limit that a
//     quick retry will not lift;
//   - SendingPausedException, AccountSuspendedException → Mail.SendingPaused;
//   - MessageRejected, MailFromDomainNotVerifiedException,
//     BadRequestException, NotFoundException (for example an unknown
//     configuration set) → Mail.Rejected;
//   - AccessDeniedException (the role's policy does not cover this
//     identity, From address or configuration set) → Mail.Rejected, so the
//     mail is dead-lettered with the reason instead of retried in vain;
//   - any other answer (5xx, unknown types), network errors, timeouts and
//     cancellation → Mail.Transient.
//
// Every answer SES gave (an API error of any status) is marked
// sender.NotAccepted, as is a context already done before the call: SES
// does not have the mail. A network error or timeout after the request
// left, and a success without a message id, are not marked: the mail may
// have been accepted.
package sessender

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"

	"github.com/mailflow/mailflow/sender"
	"github.com/mailflow/mailflow/workflow"
)

// API is the part of the SES v2 client the adapter uses.
type API interface {
	SendEmail(context.Context, *sesv2.SendEmailInput, ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error)
}

// Sender sends through SES v2.
type Sender struct {
	api API
}

var _ sender.Sender = (*Sender)(nil)

// New returns the adapter.
func New(api API) (*Sender, error) {
	if api == nil {
		return nil, errors.New("sessender: nil client")
	}
	return &Sender{api: api}, nil
}

// Send implements [sender.Sender].
func (s *Sender) Send(ctx context.Context, m *sender.Message) (string, error) {
	if err := m.Validate(); err != nil {
		return "", err
	}
	in := &sesv2.SendEmailInput{
		FromEmailAddress: aws.String(m.From),
		Destination: &types.Destination{
			ToAddresses: m.To, CcAddresses: m.Cc, BccAddresses: m.Bcc,
		},
		Content: &types.EmailContent{Raw: &types.RawMessage{Data: m.Raw}},
	}
	if m.ConfigurationSet != "" {
		in.ConfigurationSetName = aws.String(m.ConfigurationSet)
	}
	for _, t := range m.Tags {
		in.EmailTags = append(in.EmailTags, types.MessageTag{Name: aws.String(t.Name), Value: aws.String(t.Value)})
	}
	if err := ctx.Err(); err != nil {
		return "", sender.NotAccepted(workflow.Wrap(workflow.Transient, fmt.Errorf("ses: not sent: %w", err)))
	}
	out, err := s.api.SendEmail(ctx, in)
	if err != nil {
		named := workflow.Wrap(Classify(err), fmt.Errorf("ses: SendEmail: %w", err))
		var ae smithy.APIError
		if errors.As(err, &ae) {
			return "", sender.NotAccepted(named)
		}
		return "", named
	}
	if aws.ToString(out.MessageId) == "" {
		return "", workflow.Errorf(workflow.Transient, "ses: SendEmail answered without a message id")
	}
	return aws.ToString(out.MessageId), nil
}

// Classify names an SES SendEmail error (see the package doc).
func Classify(err error) workflow.ErrorName {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return workflow.Transient
	}
	if strings.Contains(strings.ToLower(ae.ErrorMessage()), "daily message quota exceeded") {
		return workflow.QuotaExhausted
	}
	var (
		tooMany    *types.TooManyRequestsException
		limit      *types.LimitExceededException
		paused     *types.SendingPausedException
		suspended  *types.AccountSuspendedException
		rejected   *types.MessageRejected
		mailFrom   *types.MailFromDomainNotVerifiedException
		badRequest *types.BadRequestException
		notFound   *types.NotFoundException
	)
	switch {
	case errors.As(err, &tooMany), ae.ErrorCode() == "Throttling":
		return workflow.Throttled
	case errors.As(err, &limit):
		return workflow.QuotaExhausted
	case errors.As(err, &paused), errors.As(err, &suspended):
		return workflow.SendingPaused
	case errors.As(err, &rejected), errors.As(err, &mailFrom), errors.As(err, &badRequest), errors.As(err, &notFound):
		return workflow.Rejected
	case ae.ErrorCode() == "AccessDeniedException" || ae.ErrorCode() == "AccessDenied":
		// The role may not send this mail (identity, From address or
		// configuration set outside its policy): retrying cannot help, and
		// dead-lettering keeps the reason for whoever fixes the policy.
		return workflow.Rejected
	}
	return workflow.Transient
}
