// Package outbox is the local runtime's default sender: every accepted mail
// becomes one .eml file in a directory, which any mail client opens.
//
// The file is the raw MIME message with trace headers prepended, as a
// mailbox delivery adds them: X-Mailflow-Message-Id, X-Mailflow-Envelope-From
// and one X-Mailflow-Envelope-To per envelope recipient (Bcc included, since
// the MIME text never names them). A file appears in the directory only once it
// is complete, so a reader never sees half a message: on Linux it is written
// as an unnamed file (O_TMPFILE) and then linked under its name, which costs
// the file system a third less than a temporary name and a rename; elsewhere,
// or where the file system cannot, it is written to a temporary name and
// renamed. Names sort by delivery time.
//
// Durability: by default each file is fsynced before it appears, so an
// accepted mail survives a power loss. WithoutSync drops that fsync: the
// file still appears whole and survives a crash of the process, the same guarantee as the local runtime's SQLite stores (WAL,
// synchronous=NORMAL). The local runtime uses it: the fsync per .eml cost
// more than any other step of a mail (measured in perf, BENCHMARKS.md).
//
// An outbox never throttles or rejects on its own: put the SES simulator
// (local/sessim) in front of it for SES's failure modes. Its own failures
// (disk full, permissions) are Mail.Transient.
package outbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mailflow/mailflow/sender"
	"github.com/mailflow/mailflow/workflow"
)

// Outbox writes mail into a directory.
type Outbox struct {
	dir    string
	now    func() time.Time // wall time: ids stamp the real delivery, outside the simulated pipeline
	seq    atomic.Uint64
	noSync bool
	// tmpfileOK is cleared when the directory's file system cannot create
	// unnamed files, so later sends go straight to the portable way.
	tmpfileOK atomic.Bool
}

// Option configures an Outbox.
type Option func(*Outbox)

// WithoutSync skips the fsync of each file (see the package doc).
func WithoutSync() Option { return func(o *Outbox) { o.noSync = true } }

var _ sender.Sender = (*Outbox)(nil)

// New creates dir if needed.
func New(dir string, opts ...Option) (*Outbox, error) {
	if dir == "" {
		return nil, fmt.Errorf("outbox: a directory is required")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	o := &Outbox{dir: dir, now: time.Now}
	o.tmpfileOK.Store(true)
	for _, opt := range opts {
		opt(o)
	}
	return o, nil
}

// Dir is the directory mail is written to.
func (o *Outbox) Dir() string { return o.dir }

// Send writes the message and returns its id.
func (o *Outbox) Send(ctx context.Context, m *sender.Message) (string, error) {
	if err := m.Validate(); err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", sender.NotAccepted(workflow.Wrap(workflow.Transient, err))
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	now := o.now().UTC()
	id := fmt.Sprintf("%s-%06d-%s", now.Format("20060102T150405.000000000Z"), o.seq.Add(1)%1000000, hex.EncodeToString(rnd[:]))
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "X-Mailflow-Message-Id: %s\r\n", id)
	fmt.Fprintf(&buf, "X-Mailflow-Envelope-From: %s\r\n", oneLine(m.From))
	for _, r := range m.To {
		fmt.Fprintf(&buf, "X-Mailflow-Envelope-To: %s\r\n", oneLine(r))
	}
	for _, r := range m.Cc {
		fmt.Fprintf(&buf, "X-Mailflow-Envelope-To: %s\r\n", oneLine(r))
	}
	for _, r := range m.Bcc {
		fmt.Fprintf(&buf, "X-Mailflow-Envelope-To: %s\r\n", oneLine(r))
	}
	if m.ConfigurationSet != "" {
		fmt.Fprintf(&buf, "X-Mailflow-Configuration-Set: %s\r\n", oneLine(m.ConfigurationSet))
	}
	buf.Write(m.Raw)
	if err := o.writeFile(filepath.Join(o.dir, id+".eml"), buf.Bytes()); err != nil {
		// The file appears whole or not at all: nothing was delivered.
		return "", sender.NotAccepted(workflow.Wrap(workflow.Transient, fmt.Errorf("outbox: %w", err)))
	}
	return id, nil
}

// writeFile makes data appear at path whole or not at all.
func (o *Outbox) writeFile(path string, data []byte) error {
	if o.tmpfileOK.Load() {
		err := writeUnnamed(o.dir, path, data, !o.noSync)
		if !errors.Is(err, errNoUnnamed) {
			return err
		}
		o.tmpfileOK.Store(false)
	}
	tmp, err := os.CreateTemp(o.dir, ".incoming-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if err == nil && !o.noSync {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// Path is the file of a message id.
func (o *Outbox) Path(id string) string { return filepath.Join(o.dir, id+".eml") }

// oneLine keeps a trace header on one line whatever it is given.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
}
