// Package awspacing builds the shared send pacer as the Lambda functions use
// it: the token bucket is the pacer item in the lock table (dynamopacer)
// and, unless a rate is configured, the rate and the daily quota come from
// SES GetAccount (sesquota). The Send and ReserveSends functions take the
// same pacer from here, so the two pace to the same bucket and rules.
package awspacing

import (
	"github.com/mailflow/mailflow/internal/taskkit"
	"github.com/mailflow/mailflow/pacer"
	"github.com/mailflow/mailflow/pacer/dynamopacer"
	"github.com/mailflow/mailflow/pacer/sesquota"
)

// New returns the pacer configured by p over the lock table, reading the
// quota through ses only when p has no fixed rate (so a configured rate
// needs no GetAccount, nor its IAM grant; SES still enforces the daily
// quota itself then). The caller builds it only when p.Enabled.
func New(ddb dynamopacer.API, ses sesquota.API, table string, p taskkit.Pacing) (*pacer.Pacer, error) {
	bucket, err := dynamopacer.New(ddb, table, dynamopacer.Options{})
	if err != nil {
		return nil, err
	}
	var account pacer.AccountFunc
	if p.Rate == 0 {
		if account, err = sesquota.Account(ses); err != nil {
			return nil, err
		}
	}
	return pacer.New(bucket, pacer.Config{Rate: p.Rate, Account: account, MaxWait: p.MaxWait})
}
