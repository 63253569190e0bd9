package cli

import (
	"context"
	"fmt"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/uuid"

	"github.com/mailflow/mailflow/client"
	"github.com/mailflow/mailflow/local"
	"github.com/mailflow/mailflow/workflow"
)

// maxAttachmentBytes bounds one attachment read from disk: SES takes 40 MB
// per message after encoding.
const maxAttachmentBytes = 30 << 20

type sendOptions struct {
	to, cc, bcc, replyTo, attach listFlag
	from, subject, text          string
	textFile, htmlFile, mailID   string
	endpoint, queueURL, bucket   string
	prefix, region               string
	useAWS                       bool
}

// validate reports every mistake of the flags at once.
func (o *sendOptions) validate() error {
	var msgs []string
	if len(o.to)+len(o.cc)+len(o.bcc) == 0 {
		msgs = append(msgs, "at least one of --to, --cc or --bcc is required")
	}
	if o.subject == "" {
		msgs = append(msgs, "--subject is required")
	}
	if o.text != "" && o.textFile != "" {
		msgs = append(msgs, "--text and --text-file are mutually exclusive")
	}
	if o.text == "" && o.textFile == "" && o.htmlFile == "" {
		msgs = append(msgs, "a body is required: --text, --text-file or --html-file")
	}
	if o.useAWS && (o.queueURL == "" || o.bucket == "") {
		msgs = append(msgs, "--aws needs --queue-url and --bucket (the stack outputs SourceQueueUrl and AttachmentBucket)")
	}
	if !strings.HasSuffix(o.prefix, "/") {
		msgs = append(msgs, fmt.Sprintf("--prefix %q must end with /", o.prefix))
	}
	return usageErrors(msgs...)
}

func runSend(ctx context.Context, args []string, s Streams) error {
	o := sendOptions{}
	fs := newFlags("send", s, "--to ADDR --subject TEXT (--text TEXT | --text-file F | --html-file F) [flags]")
	fs.Var(&o.to, "to", "recipient (repeatable)")
	fs.Var(&o.cc, "cc", "Cc recipient (repeatable)")
	fs.Var(&o.bcc, "bcc", "Bcc recipient (repeatable)")
	fs.Var(&o.replyTo, "reply-to", "Reply-To address (repeatable)")
	fs.StringVar(&o.from, "from", "", "sender; default: the pipeline's default sender")
	fs.StringVar(&o.subject, "subject", "", "subject")
	fs.StringVar(&o.text, "text", "", "plain-text body")
	fs.StringVar(&o.textFile, "text-file", "", "plain-text body from a file")
	fs.StringVar(&o.htmlFile, "html-file", "", "HTML body from a file")
	fs.Var(&o.attach, "attach", "file to attach (repeatable)")
	fs.StringVar(&o.mailID, "mail-id", "", "idempotency key; default: a new random id")
	fs.StringVar(&o.endpoint, "endpoint", "http://"+local.DefaultAddr, "local runtime endpoint")
	fs.StringVar(&o.queueURL, "queue-url", "", "source queue URL (default: the local runtime's)")
	fs.StringVar(&o.bucket, "bucket", local.DefaultBucket, "attachment bucket")
	fs.StringVar(&o.prefix, "prefix", local.DefaultAttachmentPrefix, "attachment key prefix")
	fs.StringVar(&o.region, "region", local.DefaultRegion, "region for the local endpoint")
	fs.BoolVar(&o.useAWS, "aws", false, "send to AWS with the default credential chain instead of the local runtime")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := o.validate(); err != nil {
		return err
	}

	m := client.Mail{
		MailID: o.mailID, From: o.from, To: o.to, Cc: o.cc, Bcc: o.bcc, ReplyTo: o.replyTo,
		Subject: o.subject, Text: o.text,
	}
	if m.MailID == "" {
		m.MailID = "cli-" + uuid.NewString()
	}
	var err error
	if o.textFile != "" {
		if m.Text, err = readText(o.textFile); err != nil {
			return err
		}
	}
	if o.htmlFile != "" {
		if m.HTML, err = readText(o.htmlFile); err != nil {
			return err
		}
	}
	for _, path := range o.attach {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("--attach: %w", err)
		}
		data, err := client.ReadAttachment(f, maxAttachmentBytes)
		f.Close()
		if err != nil {
			return fmt.Errorf("--attach %s: %w", path, err)
		}
		ctype := mime.TypeByExtension(filepath.Ext(path))
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		m.Attachments = append(m.Attachments, client.Attachment{Filename: filepath.Base(path), ContentType: ctype, Content: data})
	}

	var sqsClient *sqs.Client
	var s3Client *s3.Client
	queueURL := o.queueURL
	if o.useAWS {
		awsCfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return fmt.Errorf("AWS configuration: %w", err)
		}
		sqsClient, s3Client = sqs.NewFromConfig(awsCfg), s3.NewFromConfig(awsCfg)
	} else {
		sqsClient, s3Client = localClients(o.endpoint, o.region)
		if queueURL == "" {
			queueURL = strings.TrimSuffix(o.endpoint, "/") + "/" + local.DefaultAccount + "/" + local.DefaultSourceQueue
		}
	}
	c, err := client.New(client.Config{
		QueueURL: queueURL, Bucket: o.bucket, Limits: senderAgnosticLimits(o.prefix, o.from),
		SQS: sqsClient, S3: s3Client,
	})
	if err != nil {
		return err
	}
	res, err := c.Send(ctx, m)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.Out, "enqueued mail %s as message %s (%d upload(s))\n", res.MailID, res.MessageID, len(res.Uploaded))
	return nil
}

// senderAgnosticLimits checks everything but the sender allowlist, which
// only the pipeline knows; it enforces it when the mail is processed.
func senderAgnosticLimits(prefix, from string) workflow.Limits {
	l := workflow.Limits{AttachmentPrefix: prefix, AllowedSenders: []string{local.DefaultSenderDomain}, DefaultSender: local.DefaultSenderAddress}
	if a, err := mail.ParseAddress(from); err == nil {
		l.AllowedSenders = []string{a.Address}
	}
	return l
}

func readText(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	if len(b) > workflow.DefaultMaxBodyBytes*64 {
		return "", fmt.Errorf("%s: %d bytes is too large for a mail body", path, len(b))
	}
	return string(b), nil
}
