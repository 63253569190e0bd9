package cli

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/uuid"

	"github.com/mailflow/mailflow/client"
	deployconfig "github.com/mailflow/mailflow/infra/config"
	"github.com/mailflow/mailflow/local"
	"github.com/mailflow/mailflow/local/datadir"
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
	prefix, region, stack, data  string
	configPath, defaultSender    string
	senders                      listFlag
	useAWS                       bool
	// wait and timeout: --wait, --timeout.
	wait       bool
	until      string
	timeout    time.Duration
	timeoutSet bool
	untilSet   bool
	output     *outputFormat
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
	if o.useAWS && o.stack == "" && (o.queueURL == "" || o.bucket == "") {
		msgs = append(msgs, "--aws needs --stack (or MAILFLOW_STACK), or --queue-url and --bucket (the stack outputs QueueUrl and BucketName)")
	}
	if o.wait && o.useAWS && o.stack == "" {
		msgs = append(msgs, "--wait with --aws needs --stack (or MAILFLOW_STACK): it reads the stack's lock and delivery tables")
	}
	if o.timeoutSet && !o.wait {
		msgs = append(msgs, "--timeout is only for --wait")
	}
	switch u := strings.ToLower(strings.TrimSpace(o.until)); u {
	case untilSent, untilDelivered:
		o.until = u
	default:
		msgs = append(msgs, fmt.Sprintf("--until %q: want %s or %s", o.until, untilSent, untilDelivered))
	}
	if o.untilSet && !o.wait {
		msgs = append(msgs, "--until is only for --wait")
	}
	if o.timeout <= 0 {
		msgs = append(msgs, fmt.Sprintf("--timeout %s must be positive", o.timeout))
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
	fs.StringVar(&o.from, "from", "", "sender, one of the pipeline's allowed senders (see --sender); default: the pipeline's default sender")
	fs.StringVar(&o.subject, "subject", "", "subject")
	fs.StringVar(&o.text, "text", "", "plain-text body")
	fs.StringVar(&o.textFile, "text-file", "", "plain-text body from a file")
	fs.StringVar(&o.htmlFile, "html-file", "", "HTML body from a file")
	fs.Var(&o.attach, "attach", "file to attach (repeatable)")
	fs.StringVar(&o.mailID, "mail-id", "", "idempotency key; default: a new random id")
	fs.StringVar(&o.endpoint, "endpoint", "http://"+local.DefaultAddr, "local runtime endpoint")
	fs.StringVar(&o.data, "data", DefaultDataDir, "data directory of the local runtime (as for dev): a running dev there on --endpoint tells its senders")
	fs.StringVar(&o.queueURL, "queue-url", "", "source queue URL (default: the local runtime's)")
	fs.StringVar(&o.bucket, "bucket", "", "attachment bucket, stack output BucketName with --aws (default: the local runtime's "+local.DefaultBucket+")")
	fs.StringVar(&o.prefix, "prefix", local.DefaultAttachmentPrefix, "attachment key prefix")
	fs.StringVar(&o.region, "region", local.DefaultRegion, "region for the local endpoint")
	fs.BoolVar(&o.useAWS, "aws", false, "send to AWS with the default credential chain instead of the local runtime")
	fs.StringVar(&o.stack, "stack", os.Getenv("MAILFLOW_STACK"), "CloudFormation stack of the pipeline: names the queue and the bucket (--aws; env MAILFLOW_STACK; --queue-url and --bucket win)")
	fs.Var(&o.senders, "sender", "an allowed sender identity of the pipeline, an address or a domain (repeatable; env "+envSenders+", comma-separated; default: the deployment configuration's with --aws, else those of the dev running on --data and --endpoint, else "+local.DefaultSenderDomain+")")
	fs.StringVar(&o.defaultSender, "default-sender", os.Getenv(envDefaultSender), "the pipeline's default sender, for a mail without --from (env "+envDefaultSender+")")
	fs.StringVar(&o.configPath, "config", os.Getenv(envDeployConfig), "deployment configuration file, whose allowedFrom and defaultFrom are the senders with --aws (env "+envDeployConfig+")")
	fs.BoolVar(&o.wait, "wait", false, "after enqueueing, wait for the outcome (--until): exit 0 sent or delivered, 1 dead-lettered, bounced, complained or rejected (the reason printed), 3 no outcome within --timeout")
	fs.StringVar(&o.until, "until", untilSent, "what --wait waits for: sent (SES took the mail) or delivered (every recipient delivered, bounced or complained)")
	fs.DurationVar(&o.timeout, "timeout", defaultWaitTimeout, "how long --wait waits")
	o.output = addOutputFlag(fs)
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	fs.Visit(func(f *flag.Flag) {
		o.timeoutSet = o.timeoutSet || f.Name == "timeout"
		o.untilSet = o.untilSet || f.Name == "until"
	})
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

	limits, err := o.limits()
	if err != nil {
		return err
	}
	if err := checkSender(o.from, limits); err != nil {
		return err
	}
	var sqsClient client.SQSAPI
	var s3Client client.S3API
	queueURL, bucket := o.queueURL, o.bucket
	if o.useAWS {
		if queueURL == "" || bucket == "" {
			info, err := readStack(ctx, o.awsRegion(), o.stack)
			if err != nil {
				return err
			}
			queueURL, bucket = cmp.Or(queueURL, info.QueueURL), cmp.Or(bucket, info.Bucket)
			if queueURL == "" || bucket == "" {
				return fmt.Errorf("stack %s lacks the outputs QueueUrl or BucketName: give --queue-url and --bucket", o.stack)
			}
		}
		if sqsClient, s3Client, err = openSendAWS(ctx, o.awsRegion()); err != nil {
			return err
		}
	} else {
		sqsClient, s3Client = localClients(o.endpoint, o.region)
		if queueURL == "" {
			queueURL = strings.TrimSuffix(o.endpoint, "/") + "/" + local.DefaultAccount + "/" + local.DefaultSourceQueue
		}
		bucket = cmp.Or(bucket, local.DefaultBucket)
	}
	c, err := client.New(client.Config{
		QueueURL: queueURL, Bucket: bucket, Limits: limits,
		SQS: sqsClient, S3: s3Client,
	})
	if err != nil {
		return err
	}
	var w *waiter
	if o.wait {
		w = &waiter{where: o.data, until: o.until, onAWS: o.useAWS, poll: waitPoll,
			recipients: slices.Concat(o.to, o.cc, o.bcc)}
		if o.useAWS {
			w.where, w.poll = "stack "+o.stack, awsWaitPoll
			w.b, err = openAWSWaitBackend(ctx, o.awsRegion(), o.stack, s)
		} else {
			w.b, err = openWaitBackend(ctx, o.data, o.endpoint, s)
		}
		if err != nil {
			return err
		}
		defer w.b.Close()
		if o.until == untilDelivered && w.b.Deliveries == nil {
			return fmt.Errorf("--until delivered reads the delivery records, and %s keeps none", w.where)
		}
		w.enqueuedAt = time.Now()
	}
	res, err := c.Send(ctx, m)
	if err != nil {
		return err
	}
	view := sendView{MailID: res.MailID, MessageID: res.MessageID, Uploaded: res.Uploaded}
	if view.Uploaded == nil {
		view.Uploaded = []string{}
	}
	if !o.wait {
		return o.output.write(s, view, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "enqueued mail %s as message %s (%d upload(s))\n", res.MailID, res.MessageID, len(res.Uploaded))
			return err
		})
	}
	if !o.output.JSON() {
		fmt.Fprintf(s.Out, "enqueued mail %s as message %s (%d upload(s))\n", res.MailID, res.MessageID, len(res.Uploaded))
	}
	w.mailID, w.messageID = res.MailID, res.MessageID
	outcome, waitErr := w.wait(ctx, o.timeout)
	view.Wait = &outcome
	if o.output.JSON() {
		// One object with the outcome, whatever it is; the exit code and
		// stderr say the rest.
		if err := printJSON(s.Out, view); err != nil {
			return err
		}
	} else if waitErr == nil {
		fmt.Fprintf(s.Out, "mail %s %s (%s)\n", res.MailID, outcome.Outcome, outcome.where())
	}
	return waitErr
}

// sendView is what send prints with -o json.
type sendView struct {
	MailID    string   `json:"mailId"`
	MessageID string   `json:"messageId"`
	Uploaded  []string `json:"uploaded"`
	// Wait is the outcome --wait saw.
	Wait *waitOutcome `json:"wait,omitempty"`
}

// Environment variables naming the pipeline's senders and its deployment
// configuration (the one `cdk deploy` reads).
const (
	envSenders       = "MAILFLOW_SENDERS"
	envDefaultSender = "MAILFLOW_DEFAULT_SENDER"
	envDeployConfig  = "MAILFLOW_CONFIG"
)

// openSendAWS is replaced by tests that point send --aws at emulators.
var openSendAWS = func(ctx context.Context, region string) (client.SQSAPI, client.S3API, error) {
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("AWS configuration: %w", err)
	}
	return sqs.NewFromConfig(awsCfg), s3.NewFromConfig(awsCfg), nil
}

// awsRegion is --region when given, else the environment's (the default
// of --region is the local runtime's region, not AWS's).
func (o *sendOptions) awsRegion() string {
	if o.region == local.DefaultRegion {
		return os.Getenv("AWS_REGION")
	}
	return o.region
}

// limits are the pipeline's rules as far as the command line knows them.
// The senders are the pipeline's own, which only it holds: --sender (or
// MAILFLOW_SENDERS), else with --aws the deployment configuration's, else
// those the running dev wrote into its data directory's dev file, else the
// local runtime's defaults. The pipeline enforces them again when it
// processes the mail.
func (o *sendOptions) limits() (workflow.Limits, error) {
	l := workflow.Limits{AttachmentPrefix: o.prefix, AllowedSenders: o.senders, DefaultSender: o.defaultSender}
	if len(l.AllowedSenders) == 0 {
		for _, id := range strings.Split(os.Getenv(envSenders), ",") {
			if id = strings.TrimSpace(id); id != "" {
				l.AllowedSenders = append(l.AllowedSenders, id)
			}
		}
	}
	switch {
	case len(l.AllowedSenders) > 0:
	case o.useAWS && o.configPath != "":
		cfg, err := deployconfig.Load(o.configPath)
		if err != nil {
			return l, fmt.Errorf("--config: %w", err)
		}
		l.AllowedSenders, l.DefaultSender = cfg.SES.AllowedFrom, cmp.Or(l.DefaultSender, cfg.SES.DefaultFrom)
	case o.useAWS:
		return l, usagef("--aws needs the deployment's allowed senders: --sender (or %s), or --config (or %s)", envSenders, envDeployConfig)
	default:
		l.AllowedSenders = []string{local.DefaultSenderDomain}
		l.DefaultSender = cmp.Or(l.DefaultSender, local.DefaultSenderAddress)
		// The dev file is only the runtime's when it names the endpoint
		// the mail goes to.
		if info, ok := datadir.New(o.data).ReadDevInfo(); ok && len(info.AllowedSenders) > 0 &&
			strings.TrimSuffix(info.Endpoint, "/") == strings.TrimSuffix(o.endpoint, "/") {
			l.AllowedSenders, l.DefaultSender = info.AllowedSenders, cmp.Or(o.defaultSender, info.DefaultSender)
		}
	}
	if err := l.Validate(); err != nil {
		return l, usagef("the pipeline's senders: %v", err)
	}
	return l, nil
}

// checkSender refuses a --from the pipeline would refuse, naming the
// senders it allows.
func checkSender(from string, l workflow.Limits) error {
	if from == "" {
		if l.DefaultSender == "" {
			return usagef("--from is required: no default sender is known (give --default-sender or %s)", envDefaultSender)
		}
		return nil
	}
	if _, err := workflow.ParseMailbox(from); err != nil {
		return usagef("--from %q: %v", from, err)
	}
	// The limits' own rule decides: a default sender must be allowed.
	probe := workflow.Limits{AttachmentPrefix: l.AttachmentPrefix, AllowedSenders: l.AllowedSenders, DefaultSender: from}
	if probe.Validate() != nil {
		return usagef("--from %q is not an allowed sender; the pipeline allows %s", from, strings.Join(l.AllowedSenders, ", "))
	}
	return nil
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
