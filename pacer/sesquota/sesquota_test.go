package sesquota_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/mailflow/mailflow/pacer"
	"github.com/mailflow/mailflow/pacer/sesquota"
)

type fakeSES struct {
	out *sesv2.GetAccountOutput
	err error
}

func (f fakeSES) GetAccount(context.Context, *sesv2.GetAccountInput, ...func(*sesv2.Options)) (*sesv2.GetAccountOutput, error) {
	return f.out, f.err
}

func TestAccount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	read, err := sesquota.Account(fakeSES{out: &sesv2.GetAccountOutput{SendQuota: &types.SendQuota{MaxSendRate: 14, Max24HourSend: 50000, SentLast24Hours: 12}}})
	if err != nil {
		t.Fatal(err)
	}
	q, err := read(ctx)
	if want := (pacer.Quota{MaxSendRate: 14, Max24HourSend: 50000, SentLast24Hours: 12}); err != nil || q != want {
		t.Fatalf("got %+v, %v; want %+v", q, err, want)
	}
	for label, f := range map[string]fakeSES{
		"error":    {err: errors.New("AccessDeniedException")},
		"no quota": {out: &sesv2.GetAccountOutput{}},
	} {
		read, _ := sesquota.Account(f)
		if _, err := read(ctx); err == nil {
			t.Errorf("%s: no error", label)
		}
	}
	if _, err := sesquota.Account(nil); err == nil {
		t.Error("nil client accepted")
	}
}
