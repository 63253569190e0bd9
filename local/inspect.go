package local

import (
	"context"
	"fmt"
	"net/http"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/mailflow/mailflow/inspect"
	"github.com/mailflow/mailflow/local/datadir"
	"github.com/mailflow/mailflow/local/execsource"
	"github.com/mailflow/mailflow/local/sqsapi"
	"github.com/mailflow/mailflow/local/sqsstore"
)

// InspectOptions name the local runtime's resources; zero values take the
// defaults, as in Config.
type InspectOptions struct {
	DataDir         string
	Region, Account string
	SourceQueue     string
	DeadLetterQueue string
}

// OpenInspection opens a data directory for inspection, whether or not
// `mailflow dev` runs on it: the SQLite files are opened directly (WAL
// mode, so reads see what the runtime committed), never its lock. The
// queues are reached through the running runtime's endpoint when there is
// one (a send then wakes its pipe at once), else through the queue
// database opened here.
func OpenInspection(ctx context.Context, o InspectOptions) (*inspect.Backend, error) {
	set := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	set(&o.Region, DefaultRegion)
	set(&o.Account, DefaultAccount)
	set(&o.SourceQueue, DefaultSourceQueue)
	set(&o.DeadLetterQueue, DefaultDeadLetterQueue)
	dir := datadir.New(o.DataDir)
	if !dir.HasData() {
		return nil, fmt.Errorf("%s holds no mailflow data (no %s): run `mailflow dev --data %s` first", o.DataDir, datadir.ExecutionsFile, o.DataDir)
	}
	b := &inspect.Backend{OutboxDir: dir.Outbox()}
	ok := false
	defer func() {
		if !ok {
			b.Close()
		}
	}()
	execs, err := dir.OpenExecutions()
	if err != nil {
		return nil, err
	}
	b.OnClose(execs.Close)
	b.Source = execsource.Source{Store: execs}
	if kept, err := execs.Kept(ctx); err == nil {
		b.History = kept.String()
	}
	locks, err := dir.OpenLocks()
	if err != nil {
		return nil, err
	}
	b.OnClose(locks.Close)
	b.Locks = locks
	// A directory an older mailflow made has no feedback file until its
	// next start: its mails then have no delivery record to show.
	if fb, err := dir.OpenFeedback(); err == nil {
		b.OnClose(fb.Close)
		b.Deliveries, b.Suppressions = fb.Deliveries(), fb.Suppressions()
	}

	if info, ok := runningDev(ctx, dir); ok {
		client := sqs.New(sqs.Options{Region: info.Region, BaseEndpoint: aws.String(info.Endpoint),
			Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
		b.Queues = &inspect.Queues{API: client, SourceURL: info.Endpoint + "/" + info.Account + "/" + info.SourceQueue,
			DLQURL: info.Endpoint + "/" + info.Account + "/" + info.DeadLetterQueue}
		b.Via = "endpoint " + info.Endpoint
		// The dead-letter queue is read in the file, which SQS cannot do:
		// passive, so that the runtime alone runs move tasks.
		store, err := dir.OpenQueues(sqsstore.Options{Region: info.Region, AccountID: info.Account, Passive: true})
		if err != nil {
			return nil, err
		}
		b.OnClose(store.Close)
		b.Queues.Store = deadLetterStore{store, info.DeadLetterQueue}
	} else {
		store, err := dir.OpenQueues(sqsstore.Options{Region: o.Region, AccountID: o.Account})
		if err != nil {
			return nil, err
		}
		b.OnClose(store.Close)
		const base = "http://mailflow.local"
		b.Queues = &inspect.Queues{API: sqsapi.Client(store, base, store.Region()),
			SourceURL: base + "/" + store.AccountID() + "/" + o.SourceQueue, DLQURL: base + "/" + store.AccountID() + "/" + o.DeadLetterQueue,
			Store: deadLetterStore{store, o.DeadLetterQueue}}
		b.Via = "files"
	}
	ok = true
	return b, nil
}

// runningDev reads the data directory's dev file and checks that its
// process lives and its endpoint answers for the source queue.
func runningDev(ctx context.Context, dir datadir.Dir) (datadir.DevInfo, bool) {
	info, ok := dir.ReadDevInfo()
	if !ok {
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
	_, err := client.GetQueueAttributes(cctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(info.Endpoint + "/" + info.Account + "/" + info.SourceQueue),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	return info, err == nil
}

// Inspection is the read model's backend over this runtime's own stores,
// for the console served in its process: running executions show their
// history as it grows. Closing it leaves the runtime's stores open.
func (r *Runtime) Inspection() *inspect.Backend {
	c := r.cfg
	b := &inspect.Backend{
		Source: execsource.Source{Store: r.execs, Running: r.RunningEvents},
		Queues: &inspect.Queues{API: sqsapi.Client(r.queues, r.endpoint, c.Region),
			SourceURL: r.QueueURL(c.SourceQueue), DLQURL: r.QueueURL(c.DeadLetterQueue),
			Store: deadLetterStore{r.queues, c.DeadLetterQueue}},
		Locks: r.locks, OutboxDir: r.OutboxDir(), Via: "in-process",
		Deliveries: r.feedback.Deliveries(), Suppressions: r.feedback.Suppressions(),
	}
	return b
}

// DevInfo describes this runtime for the data directory's dev file.
func (r *Runtime) DevInfo() datadir.DevInfo {
	c := r.cfg
	return datadir.DevInfo{Endpoint: r.endpoint, Region: c.Region, Account: c.Account,
		SourceQueue: c.SourceQueue, DeadLetterQueue: c.DeadLetterQueue}
}

// DataDir is the runtime's data directory.
func (r *Runtime) DataDir() datadir.Dir { return r.dir }
