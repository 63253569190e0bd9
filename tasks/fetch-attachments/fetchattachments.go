// Package fetchattachments is the FetchAttachments task: it builds the MIME
// message of a mail, with its attachments and offloaded bodies read from the
// object store, and returns it inline when it is small enough or stores it
// under the staging prefix otherwise.
//
// Input: {"messageId", "body", "mailId", "owner"}; output: either
// {"inline": <standard base64 of the raw MIME>, "size", "sha256"} or
// {"key": <staged object>, "size", "sha256"}, never both; size and sha256
// (hex) are those of the raw message. Errors: Mail.AttachmentMissing,
// Mail.AttachmentForbidden, Mail.TooLarge, Mail.InvalidMessage,
// Mail.Transient.
//
// Memory: the message is built in memory while its SHA-256 and size are
// computed; beyond 64 KiB it spills to a temporary file (Lambda's /tmp) and
// is uploaded from there, so a typical small mail never touches the disk;
// each
// attachment streams from the store through the encoder (tasks/internal/mailmime).
// No attachment is ever held in memory whole.
//
// Inline bound: an inline message travels in the iteration's state (Send's
// "staged"), which Step Functions caps at 256 KiB (262144 bytes) of JSON.
// At worst that state holds at once:
//   - the SQS record: its body, at most MAX_BODY_BYTES (the deployment sets
//     it to the queue's maxMessageSizeBytes), twice its size as a JSON
//     string (the growth infra/config budgets for the pipe's input), plus
//     a record envelope of 3 KiB (ids, receipt handle, attributes);
//   - the lock result (outcome, mailId, owner): 1 KiB reserved;
//   - an error caught into $.error on a later state: Step Functions caps a
//     cause at 32 KiB, reserved whole;
//   - the inline result: base64 makes n bytes 4*ceil(n/3) characters, none
//     of which JSON escapes, plus 128 bytes of field names, size and hash;
//   - a margin of 16 KiB.
//
// So InlineLimit(B) = floor((262144 - 2*B - 3072 - 1024 - 32768 - 16384 -
// 128) * 3/4), rounded down to a multiple of 3: 132000 bytes for a 16 KiB
// body (the deployed default), 58272 for 64 KiB. Config.InlineMaxBytes
// (INLINE_MAX_BYTES) defaults to the smaller of 64 KiB and that limit; a
// larger value is refused, and 0 in the environment (a negative field)
// stages every message. Everything above the bound is staged as before.
// The Send payload holds the same fields (body, lock fields, the result),
// so it fits too.
//
// Decisions where the architecture is silent:
//   - A key outside the attachment prefix, with "." or ".." segments, or
//     absolute is Mail.AttachmentForbidden here (the message names something
//     it may not read); every other contract violation is
//     Mail.InvalidMessage.
//   - The staged key is <STAGING_PREFIX><hash of mailId>/<hash of owner>.eml:
//     one object per execution attempt, overwritten by its retries. The
//     bucket's lifecycle rule expires staging objects.
//   - The Message-ID is derived from the content hash, so retries of the
//     same mail produce the same header.
//   - A success writes no result line, a failure one (the error and its
//     cause). The task's output goes only to the next state, and the next
//     task's line (Send's, or ReleaseLock's when Send fails) tells an
//     inspector the build passed; a line that says nothing more would be
//     paid for once per mail in CloudWatch Logs.
package fetchattachments

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/internal/taskkit"
	"github.com/mailflow/mailflow/store"
	"github.com/mailflow/mailflow/tasks/internal/mailmime"
	"github.com/mailflow/mailflow/workflow"
)

// In is the task input.
type In struct {
	MessageID string `json:"messageId"`
	Body      string `json:"body"`
	MailID    string `json:"mailId"`
	Owner     string `json:"owner"`
}

// Out is the built message: inline (Inline set) or staged (Key set).
type Out struct {
	Key    string `json:"key,omitempty"`
	Inline string `json:"inline,omitempty"` // standard base64 of the raw message
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"` // hex
}

// State budget for an inline message (see the package doc).
const (
	StatePayloadBytes = 256 * 1024 // Step Functions' state and payload limit
	BodyGrowthFactor  = 2          // a JSON body as a JSON string, as infra/config budgets it
	RecordEnvelope    = 3 * 1024   // the SQS record's other fields
	LockReserve       = 1024       // $.lock
	ErrorReserve      = 32 * 1024  // $.error: a cause is at most 32 KiB
	InlineOverhead    = 128        // field names, size, sha256
	InlineMargin      = 16 * 1024
	// DefaultInlineMaxBytes caps the default bound below InlineLimit.
	DefaultInlineMaxBytes = 64 * 1024
)

// InlineLimit is the largest raw message that may travel inline when
// queue bodies are at most maxBodyBytes: 0 when none fits.
func InlineLimit(maxBodyBytes int64) int64 {
	room := StatePayloadBytes - BodyGrowthFactor*maxBodyBytes - RecordEnvelope - LockReserve - ErrorReserve - InlineOverhead - InlineMargin
	if room <= 0 {
		return 0
	}
	n := room * 3 / 4
	return n - n%3
}

// EncodedInlineBytes is the size an inline message of n raw bytes takes in
// the state: its base64 text and the result's other fields.
func EncodedInlineBytes(n int64) int64 { return 4*((n+2)/3) + InlineOverhead }

func defaultInline(maxBodyBytes int64) int64 {
	return min(DefaultInlineMaxBytes, InlineLimit(maxBodyBytes))
}

// Config is the task configuration.
type Config struct {
	Limits        workflow.Limits
	StagingPrefix string // must end in "/" and not overlap the attachment prefix
	MaxBytes      int64  // encoded message limit; 0 = 40 MB
	TempDir       string // for the message being built; "" = os.TempDir()
	// InlineMaxBytes is the largest message returned inline: 0 = the
	// default (see the package doc), negative = stage every message.
	InlineMaxBytes int64
}

// ConfigFromEnv reads ATTACHMENT_PREFIX, ALLOWED_SENDERS, DEFAULT_SENDER,
// MAX_BODY_BYTES, STAGING_PREFIX, MAX_MESSAGE_BYTES and INLINE_MAX_BYTES
// (0 = stage every message; default and maximum in the package doc).
func ConfigFromEnv(env taskkit.Env) (Config, error) {
	var p taskkit.Problems
	c := Config{
		Limits:        taskkit.Limits(env, &p),
		StagingPrefix: taskkit.Prefix(env, &p, taskkit.EnvStagingPrefix),
		MaxBytes:      taskkit.Int(env, &p, taskkit.EnvMaxMessageBytes, mailmime.DefaultMaxBytes, mailmime.DefaultMaxBytes),
	}
	if err := checkPrefixes(c.Limits.AttachmentPrefix, c.StagingPrefix); err != nil {
		p.Add(taskkit.EnvStagingPrefix, "%v", err)
	}
	if v := strings.TrimSpace(env(EnvInlineMaxBytes)); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		switch limit := InlineLimit(int64(c.Limits.MaxBodyBytes)); {
		case err != nil || n < 0:
			p.Add(EnvInlineMaxBytes, "%q is not a non-negative integer", v)
		case n > limit:
			p.Add(EnvInlineMaxBytes, "%d is more than %d, the largest message whose state fits Step Functions' %d bytes with bodies of up to %d bytes (%s)",
				n, limit, StatePayloadBytes, c.Limits.MaxBodyBytes, taskkit.EnvMaxBodyBytes)
		case n == 0:
			c.InlineMaxBytes = -1
		default:
			c.InlineMaxBytes = n
		}
	}
	return c, p.Err()
}

// EnvInlineMaxBytes names the inline bound in the environment.
const EnvInlineMaxBytes = taskkit.EnvInlineMaxBytes

func checkPrefixes(attachments, staging string) error {
	if attachments != "" && staging != "" && (strings.HasPrefix(staging, attachments) || strings.HasPrefix(attachments, staging)) {
		return fmt.Errorf("%q overlaps the attachment prefix %q", staging, attachments)
	}
	return nil
}

// Deps are the ports the handler uses.
type Deps struct {
	// Store holds the attachments and receives the staged message.
	Store store.Store
	Clock clock.Clock // nil: clock.Wall
	Log   *slog.Logger
}

// Handler is the FetchAttachments task.
type Handler struct {
	cfg  Config
	deps Deps
}

// New checks the configuration and returns the handler.
func New(cfg Config, deps Deps) (*Handler, error) {
	if err := cfg.Limits.Validate(); err != nil {
		return nil, err
	}
	if !strings.HasSuffix(cfg.StagingPrefix, "/") {
		return nil, fmt.Errorf("fetchattachments: staging prefix %q must end with /", cfg.StagingPrefix)
	}
	if err := checkPrefixes(cfg.Limits.AttachmentPrefix, cfg.StagingPrefix); err != nil {
		return nil, fmt.Errorf("fetchattachments: staging prefix %w", err)
	}
	if cfg.MaxBytes <= 0 || cfg.MaxBytes > mailmime.DefaultMaxBytes {
		cfg.MaxBytes = mailmime.DefaultMaxBytes
	}
	maxBody := int64(cfg.Limits.MaxBodyBytes)
	if maxBody <= 0 {
		maxBody = workflow.DefaultMaxBodyBytes
	}
	switch limit := InlineLimit(maxBody); {
	case cfg.InlineMaxBytes == 0:
		cfg.InlineMaxBytes = defaultInline(maxBody)
	case cfg.InlineMaxBytes > limit:
		return nil, fmt.Errorf("fetchattachments: inline bound %d is more than %d, the largest message whose state fits Step Functions' %d bytes with bodies of up to %d bytes",
			cfg.InlineMaxBytes, limit, StatePayloadBytes, maxBody)
	}
	if deps.Store == nil {
		return nil, errors.New("fetchattachments: no store")
	}
	deps.Clock = clock.Or(deps.Clock)
	return &Handler{cfg: cfg, deps: deps}, nil
}

// Handle runs the task.
func (h *Handler) Handle(ctx context.Context, in In) (out Out, err error) {
	log := taskkit.Logger(ctx, h.deps.Log, "FetchAttachments", in.MessageID, in.Owner, in.MailID)
	defer func() {
		// A success writes no line: the next task's (Send's, or
		// ReleaseLock's after a failure there) says the mail got past
		// this step, and inspection reads it so (see package doc).
		if err != nil {
			taskkit.LogResult(log, err)
		}
	}()

	if err := taskkit.CheckOwner(in.Owner); err != nil {
		return Out{}, err
	}
	m, err := workflow.Parse([]byte(in.Body), h.cfg.Limits)
	if err != nil {
		return Out{}, nameParseError(err)
	}
	if m.MailID != in.MailID {
		return Out{}, workflow.Errorf(workflow.InvalidMessage, "mailId: the body says %q, the lock says %q", m.MailID, in.MailID)
	}

	// Small messages stay in memory; a larger one spills to a temporary
	// file, so memory stays bounded whatever the attachments weigh.
	sp := &spill{dir: h.cfg.TempDir, limit: max(memoryLimit, int(h.cfg.InlineMaxBytes))}
	defer sp.close()
	sum := sha256.New()
	buf := writerPool.Get().(*bufio.Writer)
	buf.Reset(io.MultiWriter(sp, sum))
	defer func() { buf.Reset(nil); writerPool.Put(buf) }()
	n, err := mailmime.Build(ctx, buf, &m, h.deps.Store, mailmime.Options{
		Limits: h.cfg.Limits, MaxBytes: h.cfg.MaxBytes, Date: h.deps.Clock.Now(),
		MessageID: messageID(&m, h.cfg.Limits),
	})
	if err != nil {
		return Out{}, err
	}
	if err := buf.Flush(); err != nil {
		return Out{}, workflow.Errorf(workflow.Transient, "writing the temporary file: %w", err)
	}
	if n <= h.cfg.InlineMaxBytes && sp.f == nil {
		return Out{Inline: base64.StdEncoding.EncodeToString(sp.mem), Size: n, SHA256: hexSum(sum)}, nil
	}
	body, err := sp.reader()
	if err != nil {
		return Out{}, workflow.Errorf(workflow.Transient, "rewinding the temporary file: %w", err)
	}
	key := taskkit.StagedKey(h.cfg.StagingPrefix, m.MailID, in.Owner)
	if err := h.deps.Store.Put(ctx, key, body, n); err != nil {
		return Out{}, workflow.Errorf(workflow.Transient, "storing the message: %w", err)
	}
	return Out{Key: key, Size: n, SHA256: hexSum(sum)}, nil
}

// writerPool keeps the large write buffers between invocations: allocating
// and clearing 256 KiB for every mail cost more than building most mails.
var writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 256<<10) }}

// memoryLimit is the largest message built in memory; larger ones go
// through a temporary file. Typical transactional mail (a few KB to a few
// dozen KB) never touches the disk here.
const memoryLimit = 64 << 10

// spill keeps what is written in memory up to limit bytes, then moves it to
// a temporary file in dir and writes on there.
type spill struct {
	dir   string
	limit int
	mem   []byte
	f     *os.File
}

func (s *spill) Write(p []byte) (int, error) {
	if s.f == nil && len(s.mem)+len(p) <= s.limit {
		s.mem = append(s.mem, p...)
		return len(p), nil
	}
	if s.f == nil {
		f, err := os.CreateTemp(s.dir, "mailflow-*.eml")
		if err != nil {
			return 0, err
		}
		s.f = f
		if _, err := f.Write(s.mem); err != nil {
			return 0, err
		}
		s.mem = nil
	}
	return s.f.Write(p)
}

// reader returns everything written, from the start.
func (s *spill) reader() (io.Reader, error) {
	if s.f == nil {
		return bytes.NewReader(s.mem), nil
	}
	_, err := s.f.Seek(0, io.SeekStart)
	return s.f, err
}

func (s *spill) close() {
	if s.f != nil {
		s.f.Close()
		os.Remove(s.f.Name())
	}
}

func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

// nameParseError names a contract violation: AttachmentForbidden when every
// problem is a key that points outside the attachment prefix, else
// InvalidMessage.
func nameParseError(err error) error {
	var ime *workflow.InvalidMessageError
	if errors.As(err, &ime) && len(ime.Problems) > 0 {
		allKeys := true
		for _, p := range ime.Problems {
			if !isKeyField(p.Field) {
				allKeys = false
			}
		}
		if allKeys {
			return workflow.Wrap(workflow.AttachmentForbidden, err)
		}
	}
	return workflow.Wrap(workflow.InvalidMessage, err)
}

func isKeyField(field string) bool {
	return field == "textKey" || field == "htmlKey" ||
		(strings.HasPrefix(field, "attachments[") && strings.HasSuffix(field, "].key"))
}

// messageID is <first 32 hex digits of the content hash>@<sender domain>.
func messageID(m *workflow.Message, l workflow.Limits) string {
	domain := "mailflow.invalid"
	if b, err := workflow.ParseMailbox(m.Sender(l)); err == nil {
		domain = b.Domain // in A-labels: the header is ASCII
	}
	return strings.TrimPrefix(taskkit.ContentHash(m), "sha256:")[:32] + "@" + domain
}
