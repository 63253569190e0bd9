// Package tasktest sets up what the task handlers' tests run against: the
// in-memory adapters (MemLocks, MemStore, MemSender), each behind a Probe
// that counts calls and fails them on demand, for the handler packages'
// own tests, which need no Node; the AWS adapters over real wire protocols
// (dynalite, gofakes3, the SES v2 emulator), each behind a fault-injecting
// proxy, for test/awstasks and test/lambda; and a manual clock.
package tasktest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/lock/dynamolock"
	"github.com/mailflow/mailflow/sender/sessender"
	"github.com/mailflow/mailflow/store/s3store"
	"github.com/mailflow/mailflow/testkit"
	"github.com/mailflow/mailflow/workflow"
)

// Bucket is the attachment bucket of every test environment.
const Bucket = "mail-attachments"

// Limits are the message limits the tests configure.
var Limits = workflow.Limits{
	AttachmentPrefix: "attachments/",
	AllowedSenders:   []string{"example.com"},
	DefaultSender:    "Example <noreply@example.com>",
}

// StagingPrefix is where built messages go.
const StagingPrefix = "staging/"

// NewClock returns the tests' clock: it starts at a fixed instant and moves
// when a test advances it or the code under test waits on it.
func NewClock() *clock.Skipping {
	return clock.NewSkipping(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
}

// Services are emulators shared by the tests of one package.
type Services struct {
	Dynamo string // dynalite URL
	S3     *testkit.FakeS3
	SES    string // SES emulator URL
}

// Start starts the emulators a test needs; they stop when t ends.
func Start(t testing.TB, dynamo, s3, ses bool) *Services {
	t.Helper()
	s := &Services{}
	if dynamo {
		s.Dynamo = testkit.Dynalite(t)
	}
	if s3 {
		s.S3 = testkit.S3(t, Bucket)
	}
	if ses {
		s.SES = testkit.SESv2(t)
	}
	return s
}

var tableSeq atomic.Int64

// Locks returns a lock table on a fresh DynamoDB table, reached through a
// fault proxy, and the proxy.
func (s *Services) Locks(t testing.TB) (*dynamolock.Table, *testkit.FaultProxy, string) {
	t.Helper()
	name := fmt.Sprintf("locks-%d", tableSeq.Add(1))
	direct := dynamodb.NewFromConfig(testkit.AWSConfig(s.Dynamo))
	if err := dynamolock.CreateTable(context.Background(), direct, name); err != nil {
		t.Fatal(err)
	}
	proxy := testkit.NewFaultProxy(t, s.Dynamo)
	tbl, err := dynamolock.New(dynamodb.NewFromConfig(testkit.AWSConfig(proxy.URL)), name)
	if err != nil {
		t.Fatal(err)
	}
	return tbl, proxy, name
}

// Store returns the attachment bucket through a fault proxy.
func (s *Services) Store(t testing.TB) (*s3store.Store, *testkit.FaultProxy) {
	t.Helper()
	proxy := testkit.NewFaultProxy(t, s.S3.URL)
	st, err := s3store.New(s3.NewFromConfig(testkit.AWSConfig(proxy.URL), func(o *s3.Options) { o.UsePathStyle = true }), Bucket)
	if err != nil {
		t.Fatal(err)
	}
	return st, proxy
}

// Sender returns an SES sender through a fault proxy.
func (s *Services) Sender(t testing.TB) (*sessender.Sender, *testkit.FaultProxy) {
	t.Helper()
	proxy := testkit.NewFaultProxy(t, s.SES)
	snd, err := sessender.New(sesv2.NewFromConfig(testkit.AWSConfig(proxy.URL)))
	if err != nil {
		t.Fatal(err)
	}
	return snd, proxy
}

// SentMail is what the SES emulator recorded.
type SentMail struct {
	MessageID string `json:"messageId"`
	Subject   string `json:"subject"`
	From      string `json:"from"`
}

// Sent lists the mail the SES emulator has accepted.
func (s *Services) Sent(t testing.TB) []SentMail {
	t.Helper()
	resp, err := http.Get(s.SES + "/store")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Emails []SentMail `json:"emails"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st.Emails
}

// Body returns a valid queue body for mailID, with changes applied to the
// decoded form before encoding.
func Body(t testing.TB, mailID string, change func(m map[string]any)) string {
	t.Helper()
	m := map[string]any{
		"version": 1, "mailId": mailID, "from": "Shop <billing@example.com>",
		"to": []string{"ann@example.org"}, "subject": "Receipt " + mailID, "text": "Thank you.",
	}
	if change != nil {
		change(m)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// EnvMap is an Env over a map.
func EnvMap(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
