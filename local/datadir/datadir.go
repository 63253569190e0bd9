// Package datadir is the data directory of the local runtime: it alone
// knows the names of the files in it, opens each store kept there, takes
// the single-runtime lock, keeps the directory's identity and reads and
// writes the descriptor a running `mailflow dev` leaves for the CLI.
//
// Layout:
//
//	DIR/manifest.json   the directory's identity (see [Manifest])
//	DIR/queues.db       the SQS queues (source and dead-letter)
//	DIR/s3/             the attachment bucket
//	DIR/locks.db        the dedup lock table
//	DIR/executions.db   executions, their history and items
//	DIR/feedback.db     delivery records and the suppression list
//	DIR/outcomes.db     the outcome events and their webhook deliveries
//	DIR/outbox/*.eml    delivered mail (the default sender)
//	DIR/tmp/            scratch files of the attachment fetches
//	DIR/runtime.lock    held (flock) by the one runtime using DIR
//	DIR/dev.json        the running runtime's endpoint (see [DevInfo])
//
// The SQLite files are opened in WAL mode, so a reader in another process
// (the CLI's inspection commands) sees what the runtime committed without
// taking runtime.lock.
//
// # Identity
//
// A store file lost or swapped is not noticed by the stores themselves:
// SQLite creates an empty file where one is missing. An empty locks.db
// forgets which mail was sent, so the next resend of such a mail is
// delivered again; an empty queues.db loses the mail not sent yet. So the
// directory has an identity, and the runtime checks it before it opens a
// store ([Dir.Claim], at every start):
//
//   - manifest.json is written when the directory is created: a random id,
//     the creation time, the format version and the store files
//     (queues.db, locks.db, executions.db, feedback.db, outcomes.db). It is replaced atomically
//     (temporary file, fsync, rename, fsync of the directory) and checked
//     when read: a file that does not decode, has an unknown format or
//     breaks a rule is refused with its name.
//   - Each store file carries the id too, in a one-row table of its own
//     (datadir_identity): the id is random, so user_version or
//     application_id (32 bits) cannot hold it.
//   - At start, a store file the manifest lists that is missing, that
//     carries another directory's id or that carries none is refused
//     ([*Refusal]): the error names the file, what it held and the way out
//     (restore the file from where it was, or start a new data directory
//     explicitly with `mailflow dev --data NEW-DIR`). Nothing is ever
//     recreated silently, and the refused directory is left as it is.
//   - A directory with no store file (new, or holding only an outbox or a
//     bucket) is initialised. A directory made by an older mailflow (all
//     three store files, none stamped, no manifest) is adopted once: a
//     manifest with a new id is written ("adopted" records when) and the
//     files are stamped. Some of the store files without the others, or a
//     stamped file without a manifest, are refused: an older mailflow
//     created the three together, and a removed manifest cannot be told
//     from a copied file.
//   - A store file added by a later mailflow (outcomes.db) is added to the
//     manifest of a directory made before it, at the next start, and
//     created there empty: nothing was recorded in it before. An older
//     directory is adopted without it, likewise.
//   - The manifest names the files still to be stamped ("pending") until
//     they are, so a start interrupted while initialising or adopting is
//     finished by the next one.
//   - feedback.db came later than the other three. A manifest that lists
//     only those (written by the mailflow before it) is extended at the
//     next start: feedback.db is added to its stores as pending, then
//     created and stamped, since there was nothing to lose. So is an
//     adopted directory without one. From then on it is guarded like the
//     others: an empty feedback.db would forget the suppression list and
//     mail an address that bounced or complained again.
//
// The bucket, the outbox and the scratch files carry no identity: losing
// them loses attachments or copies of delivered mail, never sends a mail
// twice. The inspection commands open the stores through the same checks
// (a missing store file is reported, not created), but do not claim a
// directory.
package datadir

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/local/execstore"
	"github.com/mailflow/mailflow/local/outbox"
	"github.com/mailflow/mailflow/local/s3local"
	"github.com/mailflow/mailflow/local/sqlitefeedback"
	"github.com/mailflow/mailflow/local/sqlitelock"
	"github.com/mailflow/mailflow/local/sqsstore"
	"github.com/mailflow/mailflow/local/webhooks"
)

// Names of the entries of a data directory.
const (
	QueuesFile     = "queues.db"
	LocksFile      = "locks.db"
	ExecutionsFile = "executions.db"
	FeedbackFile   = "feedback.db"
	OutcomesFile   = "outcomes.db"
	BucketDir      = "s3"
	OutboxDir      = "outbox"
	TempDir        = "tmp"
	RuntimeLock    = "runtime.lock"
	DevFile        = "dev.json"
	ManifestFile   = "manifest.json"
)

// Dir is a data directory.
type Dir struct{ path string }

// New names the data directory at path; nothing is created or opened.
func New(path string) Dir { return Dir{path: path} }

// Path is the directory itself.
func (d Dir) Path() string { return d.path }

func (d Dir) join(name string) string { return filepath.Join(d.path, name) }

// Create makes the directory if it does not exist.
func (d Dir) Create() error {
	if err := os.MkdirAll(d.path, 0o700); err != nil {
		return fmt.Errorf("local: %w", err)
	}
	return nil
}

// HasData reports whether a runtime has used the directory: its execution
// store or its manifest exists. (A directory with a manifest and no
// execution store is refused when a store is opened, naming what is
// missing.)
func (d Dir) HasData() bool {
	for _, name := range []string{ExecutionsFile, ManifestFile} {
		if st, err := os.Stat(d.join(name)); err == nil && !st.IsDir() {
			return true
		}
	}
	return false
}

// OpenQueues opens the SQS queue store. Like the other stores, it is
// refused when the directory's manifest lists it and it is missing or not
// this directory's (see Identity above).
func (d Dir) OpenQueues(opts sqsstore.Options) (*sqsstore.Store, error) {
	if err := d.checkOpen(QueuesFile); err != nil {
		return nil, err
	}
	return sqsstore.Open(d.join(QueuesFile), opts)
}

// OpenLocks opens the dedup lock table.
func (d Dir) OpenLocks() (*sqlitelock.Table, error) {
	if err := d.checkOpen(LocksFile); err != nil {
		return nil, err
	}
	return sqlitelock.Open(d.join(LocksFile))
}

// OpenExecutions opens the execution store.
func (d Dir) OpenExecutions() (*execstore.Store, error) {
	if err := d.checkOpen(ExecutionsFile); err != nil {
		return nil, err
	}
	return execstore.Open(d.join(ExecutionsFile))
}

// OpenFeedback opens the delivery records and the suppression list.
func (d Dir) OpenFeedback() (*sqlitefeedback.DB, error) {
	if err := d.checkOpen(FeedbackFile); err != nil {
		return nil, err
	}
	return sqlitefeedback.Open(d.join(FeedbackFile))
}

// OpenOutcomes opens the outcome event log; clk is the time its Follow
// polls on. Unlike the other stores it is opened only in a claimed
// directory (one with a manifest), so a reader never creates it: a file
// made before the directory's first start would be refused by it. A
// directory whose manifest does not list it yet (made before it, not
// started since) is refused with a message saying so.
func (d Dir) OpenOutcomes(clk clock.Clock) (*webhooks.Log, error) {
	_, found, err := d.ReadManifest()
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("local: %s holds no outcome events (no %s): run `mailflow dev --data %s` first", d.path, ManifestFile, d.path)
	}
	if err := d.checkOpen(OutcomesFile); err != nil {
		return nil, err
	}
	return webhooks.Open(d.join(OutcomesFile), clk)
}

// OpenBucket serves the buckets kept in the directory, creating those named.
func (d Dir) OpenBucket(buckets ...string) (*s3local.Server, error) {
	return s3local.Open(d.join(BucketDir), buckets...)
}

// OpenOutbox opens the directory delivered mail is written to.
func (d Dir) OpenOutbox(opts ...outbox.Option) (*outbox.Outbox, error) {
	return outbox.New(d.Outbox(), opts...)
}

// Outbox is the directory of delivered mail.
func (d Dir) Outbox() string { return d.join(OutboxDir) }

// OutboxPattern matches the delivered mail files (for filepath.Glob).
func (d Dir) OutboxPattern() string { return filepath.Join(d.Outbox(), "*.eml") }

// Temp creates and returns the directory of scratch files.
func (d Dir) Temp() (string, error) {
	dir := d.join(TempDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	return dir, nil
}

// Lock makes sure only one runtime uses the directory: two would each take
// the other's leases for dead and poll the same queues. The returned
// function releases it. The CLI's inspection commands do not take it.
func (d Dir) Lock() (unlock func() error, err error) {
	f, err := os.OpenFile(d.join(RuntimeLock), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("local: another mailflow dev is already using %s", d.path)
		}
		return nil, fmt.Errorf("local: lock %s: %w", d.path, err)
	}
	return func() error {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return f.Close()
	}, nil
}

// DevInfo is the content of DevFile, written by `mailflow dev` into its
// data directory while it runs, so the CLI reaches its endpoint (a send
// through the endpoint wakes the running pipe at once; a write to the file
// would wait for its next poll).
type DevInfo struct {
	Endpoint        string `json:"endpoint"`
	Region          string `json:"region"`
	Account         string `json:"account"`
	SourceQueue     string `json:"sourceQueue"`
	DeadLetterQueue string `json:"deadLetterQueue"`
	Console         string `json:"console,omitempty"`
	PID             int    `json:"pid"`
	// AllowedSenders and DefaultSender are the runtime's, so that a send
	// through the endpoint checks its sender as the pipeline will.
	AllowedSenders []string `json:"allowedSenders,omitempty"`
	DefaultSender  string   `json:"defaultSender,omitempty"`
}

// WriteDevInfo writes DevFile (atomically); the returned function removes
// it.
func (d Dir) WriteDevInfo(info DevInfo) (func(), error) {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return nil, err
	}
	path := d.join(DevFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, err
	}
	return func() { os.Remove(path) }, nil
}

// ReadDevInfo reads DevFile; false when there is none, it does not decode
// or it names no endpoint. It does not check that the runtime still runs.
func (d Dir) ReadDevInfo() (DevInfo, bool) {
	var info DevInfo
	raw, err := os.ReadFile(d.join(DevFile))
	if err != nil || json.Unmarshal(raw, &info) != nil || info.Endpoint == "" {
		return info, false
	}
	return info, true
}
