package inspect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/mailflow/mailflow/local/execstore"
	"github.com/mailflow/mailflow/local/sqlitelock"
	"github.com/mailflow/mailflow/local/sqsstore"
	"github.com/mailflow/mailflow/lock"
	"github.com/mailflow/mailflow/lock/dynamolock"
)

// Backend is everything the inspection commands need.
type Backend struct {
	Source    Source
	Queues    *Queues
	Locks     lock.Table
	OutboxDir string // local only
	// Via says how the queues are reached: "aws", "endpoint URL" (a
	// running mailflow dev) or "files" (the data directory opened here).
	Via     string
	closers []func() error
}

// Close releases what the backend opened.
func (b *Backend) Close() error {
	var errs []error
	for i := len(b.closers) - 1; i >= 0; i-- {
		errs = append(errs, b.closers[i]())
	}
	b.closers = nil
	return errors.Join(errs...)
}

// DevFile is written by `mailflow dev` into its data directory while it
// runs, so the CLI reaches its endpoint (a send through the endpoint wakes
// the running pipe at once; a write to the file would wait for its next
// poll).
const DevFile = "dev.json"

// DevInfo is the content of DevFile.
type DevInfo struct {
	Endpoint        string `json:"endpoint"`
	Region          string `json:"region"`
	Account         string `json:"account"`
	SourceQueue     string `json:"sourceQueue"`
	DeadLetterQueue string `json:"deadLetterQueue"`
	Console         string `json:"console,omitempty"`
	PID             int    `json:"pid"`
}

// WriteDevInfo writes DevFile into dir; the returned function removes it.
func WriteDevInfo(dir string, info DevInfo) (func(), error) {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, DevFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, err
	}
	return func() { os.Remove(path) }, nil
}

// LocalOptions name the local runtime's resources.
type LocalOptions struct {
	DataDir         string
	Region, Account string
	SourceQueue     string
	DeadLetterQueue string
}

// OpenLocal opens a local runtime's data directory for inspection, whether
// or not `mailflow dev` runs on it: the SQLite files are opened directly
// (WAL mode, so reads see what the runtime committed), never its lock.
func OpenLocal(ctx context.Context, o LocalOptions) (*Backend, error) {
	if st, err := os.Stat(filepath.Join(o.DataDir, "executions.db")); err != nil || st.IsDir() {
		return nil, fmt.Errorf("%s holds no mailflow data (no executions.db): run `mailflow dev --data %s` first", o.DataDir, o.DataDir)
	}
	b := &Backend{OutboxDir: filepath.Join(o.DataDir, "outbox")}
	ok := false
	defer func() {
		if !ok {
			b.Close()
		}
	}()
	execs, err := execstore.Open(filepath.Join(o.DataDir, "executions.db"))
	if err != nil {
		return nil, err
	}
	b.closers = append(b.closers, execs.Close)
	b.Source = LocalSource{Store: execs}
	locks, err := sqlitelock.Open(filepath.Join(o.DataDir, "locks.db"))
	if err != nil {
		return nil, err
	}
	b.closers = append(b.closers, locks.Close)
	b.Locks = locks

	if info, ok := runningDev(ctx, o.DataDir); ok {
		client := sqs.New(sqs.Options{Region: info.Region, BaseEndpoint: aws.String(info.Endpoint),
			Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
		b.Queues = &Queues{API: client, SourceURL: info.Endpoint + "/" + info.Account + "/" + info.SourceQueue,
			DLQURL: info.Endpoint + "/" + info.Account + "/" + info.DeadLetterQueue}
		b.Via = "endpoint " + info.Endpoint
	} else {
		store, err := sqsstore.Open(filepath.Join(o.DataDir, "queues.db"), sqsstore.Options{Region: o.Region, AccountID: o.Account})
		if err != nil {
			return nil, err
		}
		b.closers = append(b.closers, store.Close)
		const base = "http://mailflow.local"
		b.Queues = &Queues{API: LocalSQS(store, base, store.Region()),
			SourceURL: base + "/" + store.AccountID() + "/" + o.SourceQueue, DLQURL: base + "/" + store.AccountID() + "/" + o.DeadLetterQueue}
		b.Via = "files"
	}
	ok = true
	return b, nil
}

// runningDev reads DevFile and checks that its process lives and its
// endpoint answers for the source queue.
func runningDev(ctx context.Context, dir string) (DevInfo, bool) {
	var info DevInfo
	raw, err := os.ReadFile(filepath.Join(dir, DevFile))
	if err != nil || json.Unmarshal(raw, &info) != nil || info.Endpoint == "" {
		return info, false
	}
	// A file left by a runtime that died names a port another process may
	// have taken since: the runtime must still be alive.
	if info.PID <= 0 || syscall.Kill(info.PID, 0) != nil {
		return info, false
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	client := sqs.New(sqs.Options{Region: info.Region, BaseEndpoint: aws.String(info.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
		HTTPClient:  &http.Client{Timeout: 2 * time.Second}, RetryMaxAttempts: 1})
	_, err = client.GetQueueAttributes(cctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(info.Endpoint + "/" + info.Account + "/" + info.SourceQueue),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	return info, err == nil
}

// AWSOptions name the deployed resources (the stack outputs and the state
// machine's log group).
type AWSOptions struct {
	Region    string
	LogGroup  string
	QueueURL  string
	DLQURL    string
	LockTable string
	// Lookback bounds log searches without a time range (default 14 days).
	Lookback time.Duration
	// Progress is told how many log events a search has read.
	Progress func(events int)
	// Config, when set, is used instead of the default credential chain
	// (tests point it at emulators).
	Config *aws.Config
	// Logs, SQS and Locks, when set, replace the clients made from the
	// configuration (tests point them at emulators).
	Logs  LogsAPI
	SQS   SQSAPI
	Locks lock.Table
}

// OpenAWS connects to the deployed pipeline.
func OpenAWS(ctx context.Context, o AWSOptions) (*Backend, error) {
	var cfg aws.Config
	if o.Config != nil {
		cfg = *o.Config
	} else {
		var opts []func(*config.LoadOptions) error
		if o.Region != "" {
			opts = append(opts, config.WithRegion(o.Region))
		}
		var err error
		if cfg, err = config.LoadDefaultConfig(ctx, opts...); err != nil {
			return nil, fmt.Errorf("AWS configuration: %w", err)
		}
	}
	b := &Backend{Via: "aws"}
	logs := o.Logs
	if logs == nil {
		logs = cloudwatchlogs.NewFromConfig(cfg)
	}
	b.Source = &LogSource{API: logs, LogGroup: o.LogGroup, Lookback: o.Lookback, Progress: o.Progress}
	var queues SQSAPI = sqs.NewFromConfig(cfg)
	if o.SQS != nil {
		queues = o.SQS
	}
	b.Queues = &Queues{API: queues, SourceURL: o.QueueURL, DLQURL: o.DLQURL}
	if o.Locks != nil {
		b.Locks = o.Locks
	} else if o.LockTable != "" {
		t, err := dynamolock.New(dynamodb.NewFromConfig(cfg), o.LockTable)
		if err != nil {
			return nil, err
		}
		b.Locks = t
	}
	return b, nil
}
