// Package client is the Go enqueue client backends import to send mail
// through mailflow: it validates the mail against the message contract,
// uploads attachments and large bodies to the attachment bucket, then puts
// the message on the source queue.
//
// The same client talks to AWS or to the local runtime (`mailflow dev`):
// only the SDK clients' endpoint differs.
//
// Decisions:
//   - Uploads are content-addressed (<prefix><sha256>/<filename>), so a
//     retried Send re-uploads nothing new and two mails sharing a file share
//     one object.
//   - Bodies move to S3 when the encoded message would exceed
//     Config.MaxMessageBytes (default 16 KiB): HTML first, then text. A pipe
//     hands a batch of messages to Step Functions in one 256 KiB input, in
//     which a message can take up to twice its size (seven of 16 KiB by
//     default, see infra/config), so queue bodies must stay small.
//   - The message is validated before anything is uploaded; an invalid mail
//     returns the same *workflow.InvalidMessageError the pipeline would.
//
// # Outcome event webhooks
//
// mailflow is to deliver outcome events (workflow.OutcomeEvent; the
// delivery itself is not wired yet) to a producer's HTTPS endpoint as a
// POST whose body is the event's JSON, with two headers:
//
//	Mailflow-Event-Id: <the event's id, for dedup before parsing>
//	Mailflow-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
//
// The timestamp is signed with the body, so a captured request cannot be
// replayed outside the tolerance, and the receiver drops event ids it has
// seen within it. While a secret is rotated the header carries one v1 per
// active secret (the v1 elements of [SignWebhook] for each, joined after
// one t); a receiver accepts the request when any of them matches its
// secret. [SignWebhook] and [VerifyWebhook] implement it. Decisions:
//   - Elements are comma-separated name=value pairs without spaces: exactly
//     one t, at least one and at most 8 v1. Elements with another name are
//     ignored, so a later scheme can be added beside v1.
//   - t is canonical decimal (no sign, no leading zero); v1 is 64 lower-case
//     hex digits. Anything else is [ErrWebhookMalformed], not a mismatch.
//   - The tolerance applies both ways: a timestamp too far in the future is
//     refused like a stale one ([ErrWebhookTimestamp]).
//   - Signatures are compared with hmac.Equal (constant time).
//   - The header is at most 4096 bytes, so a hostile one
//     costs a bounded amount of work.
package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/mailflow/mailflow/workflow"
)

// SQSAPI is the part of the SQS client the mail client uses.
type SQSAPI interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// S3API is the part of the S3 client the mail client uses.
type S3API interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// DefaultMaxMessageBytes is the queue-body size above which bodies are
// offloaded to S3.
const DefaultMaxMessageBytes = 16 * 1024

// Config says where mail goes.
type Config struct {
	QueueURL string
	Bucket   string
	// Limits are the pipeline's rules; AttachmentPrefix is where uploads go.
	Limits          workflow.Limits
	MaxMessageBytes int // default DefaultMaxMessageBytes
	SQS             SQSAPI
	S3              S3API
}

// Client enqueues mail.
type Client struct {
	cfg Config
}

// New checks the configuration.
func New(cfg Config) (*Client, error) {
	var errs []error
	if cfg.QueueURL == "" {
		errs = append(errs, errors.New("client: QueueURL is required"))
	}
	if cfg.Bucket == "" {
		errs = append(errs, errors.New("client: Bucket is required"))
	}
	if cfg.SQS == nil || cfg.S3 == nil {
		errs = append(errs, errors.New("client: SQS and S3 clients are required"))
	}
	if err := cfg.Limits.Validate(); err != nil {
		errs = append(errs, err)
	}
	if cfg.MaxMessageBytes == 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.MaxMessageBytes < 1024 {
		errs = append(errs, fmt.Errorf("client: MaxMessageBytes %d is below 1024", cfg.MaxMessageBytes))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Client{cfg: cfg}, nil
}

// Mail is one mail to send.
type Mail struct {
	MailID           string // the idempotency key: the same id is sent once
	From             string // empty: the pipeline's default sender
	To, Cc, Bcc      []string
	ReplyTo          []string
	Subject          string
	Text, HTML       string
	Headers          map[string]string
	Tags             []workflow.Tag
	ConfigurationSet string
	Attachments      []Attachment
}

// Attachment is a file to attach: its content, or the key of an object
// already under the attachment prefix.
type Attachment struct {
	Filename    string
	ContentType string
	Inline      bool
	ContentID   string
	Content     []byte // uploaded by Send
	Key         string // an existing object instead of Content
}

// Result tells what was enqueued.
type Result struct {
	MessageID string // the SQS message id
	MailID    string
	Uploaded  []string // keys written to the bucket
	Body      []byte   // the queue body
}

// Send validates the mail, uploads what it needs, and enqueues it.
func (c *Client) Send(ctx context.Context, m Mail) (Result, error) {
	msg := workflow.Message{
		Version: workflow.SchemaVersion, MailID: m.MailID, From: m.From,
		To: m.To, Cc: m.Cc, Bcc: m.Bcc, ReplyTo: m.ReplyTo, Subject: m.Subject,
		Text: m.Text, HTML: m.HTML, Headers: m.Headers, Tags: m.Tags, ConfigurationSet: m.ConfigurationSet,
	}
	type upload struct {
		key, contentType string
		data             []byte
	}
	var uploads []upload
	for i, a := range m.Attachments {
		att := workflow.Attachment{Key: a.Key, Filename: a.Filename, ContentType: a.ContentType, Inline: a.Inline, ContentID: a.ContentID}
		switch {
		case a.Key != "" && a.Content != nil:
			return Result{}, fmt.Errorf("client: attachments[%d]: set Content or Key, not both", i)
		case a.Key == "":
			name := a.Filename
			if name == "" {
				name = fmt.Sprintf("attachment-%d", i+1)
			}
			att.Key = c.contentKey(a.Content, path.Base(name))
			uploads = append(uploads, upload{att.Key, a.ContentType, a.Content})
		}
		msg.Attachments = append(msg.Attachments, att)
	}
	// Validate before uploading: nothing is written for a mail that cannot go.
	if err := workflow.Validate(&msg, c.cfg.Limits); err != nil {
		return Result{}, err
	}
	body, err := marshal(msg)
	if err != nil {
		return Result{}, err
	}
	for _, part := range []struct {
		text  *string
		key   *string
		ext   string
		ctype string
	}{{&msg.HTML, &msg.HTMLKey, "body.html", "text/html; charset=utf-8"}, {&msg.Text, &msg.TextKey, "body.txt", "text/plain; charset=utf-8"}} {
		if len(body) <= c.cfg.MaxMessageBytes || *part.text == "" {
			continue
		}
		data := []byte(*part.text)
		*part.key = c.contentKey(data, part.ext)
		*part.text = ""
		uploads = append(uploads, upload{*part.key, part.ctype, data})
		if body, err = marshal(msg); err != nil {
			return Result{}, err
		}
	}
	if len(body) > c.cfg.MaxMessageBytes {
		return Result{}, fmt.Errorf("client: the message is %d bytes even with its bodies in S3 (limit %d): fewer recipients, headers or tags", len(body), c.cfg.MaxMessageBytes)
	}
	// The pipeline checks the final message exactly as it will see it.
	if _, err := workflow.Parse(body, c.cfg.Limits); err != nil {
		return Result{}, err
	}

	res := Result{MailID: m.MailID, Body: body}
	for _, u := range uploads {
		in := &s3.PutObjectInput{Bucket: aws.String(c.cfg.Bucket), Key: aws.String(u.key), Body: bytes.NewReader(u.data), ContentLength: aws.Int64(int64(len(u.data)))}
		if u.contentType != "" {
			in.ContentType = aws.String(u.contentType)
		}
		if _, err := c.cfg.S3.PutObject(ctx, in); err != nil {
			return res, fmt.Errorf("client: upload %s: %w", u.key, err)
		}
		res.Uploaded = append(res.Uploaded, u.key)
	}
	out, err := c.cfg.SQS.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:    aws.String(c.cfg.QueueURL),
		MessageBody: aws.String(string(body)),
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{
			"mailflow.mailId": {DataType: aws.String("String"), StringValue: aws.String(m.MailID)},
		},
	})
	if err != nil {
		return res, fmt.Errorf("client: enqueue %s: %w", m.MailID, err)
	}
	res.MessageID = aws.ToString(out.MessageId)
	return res, nil
}

func (c *Client) contentKey(data []byte, name string) string {
	sum := sha256.Sum256(data)
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '/' || r == '\\' {
			return '_'
		}
		return r
	}, name)
	if name == "." || name == ".." || name == "" {
		name = "file"
	}
	return c.cfg.Limits.AttachmentPrefix + hex.EncodeToString(sum[:]) + "/" + name
}

func marshal(m workflow.Message) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// ReadAttachment reads a file's content for an Attachment, bounded by limit bytes.
func ReadAttachment(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("client: attachment larger than %d bytes", limit)
	}
	return b, nil
}
