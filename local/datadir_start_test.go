package local_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/mailflow/mailflow/client"
	"github.com/mailflow/mailflow/internal/sqlitedb"
	"github.com/mailflow/mailflow/local"
	"github.com/mailflow/mailflow/local/datadir"
	"github.com/mailflow/mailflow/local/execstore"
	"github.com/mailflow/mailflow/workflow"
)

// onDir is a runtime on a data directory of the test's choosing, so that
// the test can stop it, change the directory and start again.
type onDir struct {
	t    *testing.T
	dir  string
	rt   *local.Runtime
	done chan finished
}

func (d *onDir) config() local.Config {
	return local.Config{DataDir: d.dir, Addr: "127.0.0.1:0", BatchWindow: 20 * time.Millisecond,
		OnExecution: func(e execstore.Execution, items []execstore.Item) { d.done <- finished{e, items} }}
}

// start starts the runtime on the directory; the error is Start's.
func (d *onDir) start() error {
	d.done = make(chan finished, 100)
	rt, err := local.Start(context.Background(), d.config())
	if err != nil {
		return err
	}
	d.rt = rt
	d.t.Cleanup(func() { d.stop() })
	return nil
}

func (d *onDir) stop() {
	if d.rt == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.rt.Close(ctx); err != nil {
		d.t.Error(err)
	}
	d.rt = nil
}

// send enqueues a mail and waits for its outcome.
func (d *onDir) send(mailID string) workflow.Outcome {
	d.t.Helper()
	creds := credentials.NewStaticCredentialsProvider("local", "local", "")
	cfg := d.rt.Config()
	c, err := client.New(client.Config{
		QueueURL: d.rt.QueueURL(cfg.SourceQueue), Bucket: cfg.Bucket,
		Limits: workflow.Limits{AttachmentPrefix: cfg.AttachmentPrefix, AllowedSenders: cfg.AllowedSenders, DefaultSender: cfg.DefaultSender},
		SQS:    sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(d.rt.Endpoint()), Credentials: creds}),
		S3:     s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(d.rt.Endpoint()), UsePathStyle: true, Credentials: creds}),
	})
	if err != nil {
		d.t.Fatal(err)
	}
	if _, err := c.Send(context.Background(), client.Mail{MailID: mailID, To: []string{"ann@example.org"}, Subject: "Once", Text: "only once"}); err != nil {
		d.t.Fatal(err)
	}
	return waitItems(d.t, d.done, 1)[0].Outcome
}

func (d *onDir) delivered() int {
	files, _ := filepath.Glob(filepath.Join(d.dir, "outbox", "*.eml"))
	return len(files)
}

// used is a data directory a runtime has sent mail-1 from and stopped on.
func used(t *testing.T) *onDir {
	t.Helper()
	d := &onDir{t: t, dir: t.TempDir()}
	if err := d.start(); err != nil {
		t.Fatal(err)
	}
	if got := d.send("mail-1"); got != workflow.OutcomeSent {
		t.Fatalf("mail-1: %s", got)
	}
	d.stop()
	return d
}

func removeStore(t *testing.T, path string) {
	t.Helper()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
}

// refused checks that a start failed for the store file name, saying why
// and the way out.
func refused(t *testing.T, err error, name, why string) {
	t.Helper()
	var r *datadir.Refusal
	if !errors.As(err, &r) || r.File != name {
		t.Fatalf("start: %v, want it refused for %s", err, name)
	}
	for _, want := range []string{name, why, "mailflow dev --data NEW-DIR"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
}

// TestStartRefusesAMissingStore: a store file deleted from a data
// directory is not replaced by an empty one. For locks.db, an empty table
// would deliver a resent mail a second time.
func TestStartRefusesAMissingStore(t *testing.T) {
	t.Parallel()
	for _, name := range datadir.StoreFiles {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := used(t)
			path := filepath.Join(d.dir, name)
			removeStore(t, path)
			err := d.start()
			if err == nil {
				outcome := d.send("mail-1")
				t.Fatalf("started on %s without %s; mail-1 resent: %s, %d deliveries", d.dir, name, outcome, d.delivered())
			}
			refused(t, err, name, "is missing")
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s was created again: %v", name, err)
			}
		})
	}
}

func copyStore(t *testing.T, from, to string) {
	t.Helper()
	removeStore(t, to)
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestStartRefusesAStoreOfAnotherDirectory: locks.db or queues.db copied
// in from another data directory is refused: its locks do not know what
// this directory sent.
func TestStartRefusesAStoreOfAnotherDirectory(t *testing.T) {
	t.Parallel()
	for _, name := range []string{datadir.LocksFile, datadir.QueuesFile} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := used(t)
			other := &onDir{t: t, dir: t.TempDir()}
			if err := other.start(); err != nil {
				t.Fatal(err)
			}
			other.stop()
			copyStore(t, filepath.Join(other.dir, name), filepath.Join(d.dir, name))
			err := d.start()
			if err == nil {
				outcome := d.send("mail-1")
				t.Fatalf("started with the %s of another directory; mail-1 resent: %s, %d deliveries", name, outcome, d.delivered())
			}
			refused(t, err, name, "belongs to another data directory")
		})
	}
}

// TestStartAdoptsAnOlderDirectory: a directory an older mailflow made (the
// same stores, no manifest, no identity) starts with what it holds, and is
// guarded from then on.
func TestStartAdoptsAnOlderDirectory(t *testing.T) {
	t.Parallel()
	d := used(t)
	if err := os.Remove(filepath.Join(d.dir, datadir.ManifestFile)); err != nil {
		t.Fatal(err)
	}
	for _, name := range datadir.StoreFiles {
		db, err := sqlitedb.Open(filepath.Join(d.dir, name), sqlitedb.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`DROP TABLE datadir_identity`); err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
	if err := d.start(); err != nil {
		t.Fatalf("an older directory: %v", err)
	}
	m, ok, err := datadir.New(d.dir).ReadManifest()
	if err != nil || !ok || m.Adopted == nil {
		t.Fatalf("manifest %+v %v %v, want an adopted one", m, ok, err)
	}
	if got := d.send("mail-1"); got != workflow.OutcomeAlreadySent || d.delivered() != 1 {
		t.Fatalf("mail-1 resent after the adoption: %s, %d deliveries", got, d.delivered())
	}
	d.stop()
	removeStore(t, filepath.Join(d.dir, datadir.LocksFile))
	refused(t, d.start(), datadir.LocksFile, "is missing")
}
