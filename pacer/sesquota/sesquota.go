// Package sesquota reads an account's SES sending quota with SES v2
// GetAccount, as the pacer's rate source on AWS. GetAccount takes no
// resource, so the IAM action ses:GetAccount can only be granted on "*".
package sesquota

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/mailflow/mailflow/pacer"
)

// API is the part of the SES v2 client used.
type API interface {
	GetAccount(context.Context, *sesv2.GetAccountInput, ...func(*sesv2.Options)) (*sesv2.GetAccountOutput, error)
}

// Account returns the pacer's quota source over api.
func Account(api API) (pacer.AccountFunc, error) {
	if api == nil {
		return nil, errors.New("sesquota: nil client")
	}
	return func(ctx context.Context) (pacer.Quota, error) {
		out, err := api.GetAccount(ctx, &sesv2.GetAccountInput{})
		if err != nil {
			return pacer.Quota{}, fmt.Errorf("sesquota: GetAccount: %w", err)
		}
		if out.SendQuota == nil {
			return pacer.Quota{}, errors.New("sesquota: GetAccount returned no SendQuota")
		}
		q := out.SendQuota
		return pacer.Quota{MaxSendRate: q.MaxSendRate, Max24HourSend: q.Max24HourSend, SentLast24Hours: q.SentLast24Hours}, nil
	}, nil
}
