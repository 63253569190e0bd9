package test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/mailflow/mailflow/client"
	"github.com/mailflow/mailflow/local/execstore"
	"github.com/mailflow/mailflow/workflow"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mailflow-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "mailflow")
	build := exec.Command("go", "build", "-o", binary, "../cmd/mailflow")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building mailflow:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// dev is a running `mailflow dev` process.
type dev struct {
	t        *testing.T
	cmd      *exec.Cmd
	data     string
	endpoint string
	exited   chan error
	mu       sync.Mutex
	out      bytes.Buffer
}

var endpointLine = regexp.MustCompile(`endpoint\s+(http://127\.0\.0\.1:\d+)`)

// startDev runs `mailflow dev` on a free loopback port with the data
// directory and extra flags, and waits until it serves.
func startDev(t *testing.T, data string, flags ...string) *dev {
	t.Helper()
	args := append([]string{"dev", "--data", data, "--addr", "127.0.0.1:0", "--batch-window", "50ms"}, flags...)
	d := &dev{t: t, data: data, exited: make(chan error, 1), cmd: exec.Command(binary, args...)}
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	d.cmd.Stderr = &lockedWriter{d: d}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			d.mu.Lock()
			d.out.WriteString(line + "\n")
			d.mu.Unlock()
			if m := endpointLine.FindStringSubmatch(line); m != nil {
				ready <- m[1]
			}
		}
	}()
	go func() { d.exited <- d.cmd.Wait() }()
	t.Cleanup(func() {
		d.stop()
		if t.Failed() {
			t.Logf("mailflow dev output:\n%s", d.output())
		}
	})
	select {
	case d.endpoint = <-ready:
	case err := <-d.exited:
		t.Fatalf("mailflow dev exited: %v\n%s", err, d.output())
	case <-time.After(60 * time.Second):
		t.Fatalf("mailflow dev did not start\n%s", d.output())
	}
	return d
}

type lockedWriter struct{ d *dev }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.d.mu.Lock()
	defer w.d.mu.Unlock()
	return w.d.out.Write(p)
}

func (d *dev) output() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.out.String()
}

// stop interrupts the process as Ctrl-C does and waits for it.
func (d *dev) stop() {
	if d.cmd.ProcessState != nil {
		return
	}
	_ = d.cmd.Process.Signal(os.Interrupt)
	select {
	case <-d.exited:
	case <-time.After(60 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exited
	}
}

// kill ends the process at once, as a crash does.
func (d *dev) kill() {
	_ = d.cmd.Process.Kill()
	<-d.exited
}

func (d *dev) clients() (*sqs.Client, *s3.Client) {
	creds := credentials.NewStaticCredentialsProvider("local", "local", "")
	return sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(d.endpoint), Credentials: creds}),
		s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(d.endpoint), UsePathStyle: true, Credentials: creds})
}

func (d *dev) queueURL(name string) string { return d.endpoint + "/000000000000/" + name }

func (d *dev) client(t *testing.T) *client.Client {
	t.Helper()
	sqsc, s3c := d.clients()
	c, err := client.New(client.Config{
		QueueURL: d.queueURL("mailflow-source"), Bucket: "mailflow-attachments",
		Limits: workflow.Limits{AttachmentPrefix: "attachments/", AllowedSenders: []string{"example.com"}, DefaultSender: "mailflow@example.com"},
		SQS:    sqsc, S3: s3c,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sendRaw puts a body on the source queue as any producer would.
func (d *dev) sendRaw(t *testing.T, body string) string {
	t.Helper()
	sqsc, _ := d.clients()
	out, err := sqsc.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(d.queueURL("mailflow-source")), MessageBody: aws.String(body)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.MessageId)
}

// queueDepth is visible + in-flight + delayed messages of a queue.
func (d *dev) queueDepth(t *testing.T, name string) int {
	t.Helper()
	sqsc, _ := d.clients()
	out, err := sqsc.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(d.queueURL(name)), AttributeNames: []sqstypes.QueueAttributeName{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"},
	})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, v := range out.Attributes {
		var k int
		fmt.Sscan(v, &k)
		n += k
	}
	return n
}

// eventually polls cond until it holds or the limit passes.
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond) // polling interval of an external process's state
	}
}

// outbox lists the delivered .eml files.
func (d *dev) outbox(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(d.data, "outbox", "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// parsedMail is a delivered message taken apart with the standard library's
// MIME reader, independently of how it was built.
type parsedMail struct {
	header      mail.Header
	text, html  string
	attachments map[string][]byte // by filename
	contentIDs  map[string]string // filename -> Content-ID
}

func parseMail(t *testing.T, raw []byte) parsedMail {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	p := parsedMail{header: msg.Header, attachments: map[string][]byte{}, contentIDs: map[string]string{}}
	var walk func(ctype string, header map[string][]string, body io.Reader)
	walk = func(ctype string, header map[string][]string, body io.Reader) {
		mt, params, err := mime.ParseMediaType(ctype)
		if err != nil {
			t.Fatalf("content type %q: %v", ctype, err)
		}
		if strings.HasPrefix(mt, "multipart/") {
			mr := multipart.NewReader(body, params["boundary"])
			for {
				part, err := mr.NextRawPart()
				if err == io.EOF {
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				walk(part.Header.Get("Content-Type"), part.Header, decodeBody(t, part.Header.Get("Content-Transfer-Encoding"), part))
			}
		}
		data, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		get := func(k string) string {
			if v := header[k]; len(v) > 0 {
				return v[0]
			}
			return ""
		}
		disp, dparams, _ := mime.ParseMediaType(get("Content-Disposition"))
		name := dparams["filename"]
		if name == "" {
			name = params["name"]
		}
		switch {
		case name != "" || disp == "attachment":
			p.attachments[name] = data
			if cid := strings.Trim(get("Content-Id"), "<>"); cid != "" {
				p.contentIDs[name] = cid
			}
		case mt == "text/plain":
			p.text = string(data)
		case mt == "text/html":
			p.html = string(data)
		}
	}
	walk(msg.Header.Get("Content-Type"), msg.Header, decodeBody(t, msg.Header.Get("Content-Transfer-Encoding"), msg.Body))
	return p
}

func decodeBody(t *testing.T, encoding string, r io.Reader) io.Reader {
	t.Helper()
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, r)
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	case "", "7bit", "8bit", "binary":
		return r
	}
	t.Fatalf("unknown transfer encoding %q", encoding)
	return nil
}

var mimeDecoder = &mime.WordDecoder{}

// countEvents counts history events of a type (and error name, when given)
// across every execution in the data directory's store.
func countEvents(t *testing.T, data, eventType, errorName string) int {
	t.Helper()
	store, err := execstore.Open(filepath.Join(data, "executions.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	n, cursor := 0, ""
	for {
		page, err := store.List(ctx, execstore.Filter{Limit: 1000, Before: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Executions {
			events, err := store.Events(ctx, e.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range events {
				if ev.Type != eventType {
					continue
				}
				var details struct {
					Error string `json:"error"`
				}
				json.Unmarshal(ev.Details, &details)
				if errorName == "" || details.Error == errorName {
					n++
				}
			}
		}
		if page.NextCursor == "" {
			return n
		}
		cursor = page.NextCursor
	}
}
