package gateway_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/chromedp/chromedp"

	"github.com/mailflow/mailflow/local/gateway"
	"github.com/mailflow/mailflow/local/s3local"
	"github.com/mailflow/mailflow/local/sqsapi"
	"github.com/mailflow/mailflow/local/sqsstore"
	"github.com/mailflow/mailflow/testkit"
	"github.com/mailflow/mailflow/testkit/browser"
)

// endpoint is the SQS and S3 endpoint as `mailflow dev` serves it (a
// store, a bucket, the router on a loopback listener) with the default
// policy: no credentials, no CORS origins. Every request and its status
// are recorded.
type endpoint struct {
	url    string
	queues *sqsstore.Store
	sqs    *sqs.Client
	s3     *s3.Client
	mu     sync.Mutex
	seen   []seenRequest
}

type seenRequest struct {
	method, target, origin, site string
	status                       int
}

func (e *endpoint) browserRequests() []seenRequest {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []seenRequest
	for _, s := range e.seen {
		if s.origin != "" || s.site != "" {
			out = append(out, s)
		}
	}
	return out
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

func startEndpoint(t *testing.T) *endpoint {
	return startEndpointWith(t, gateway.Policy{}, testkit.LocalCredentials)
}

// startEndpointWith serves the endpoint with policy (its Addr set to the
// listener's) and gives it SDK clients signing with creds.
func startEndpointWith(t *testing.T, policy gateway.Policy, creds aws.Credentials) *endpoint {
	t.Helper()
	dir := t.TempDir()
	queues, err := sqsstore.Open(filepath.Join(dir, "queues.db"), sqsstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { queues.Close() })
	bucket, err := s3local.Open(filepath.Join(dir, "s3"), "mailflow-attachments")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &endpoint{url: "http://" + l.Addr().String(), queues: queues}
	router := gateway.Router{SQS: sqsapi.New(queues, sqsapi.Options{BaseURL: e.url}), S3: bucket,
		Policy: policy}
	router.Policy.Addr = l.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: 200}
		router.ServeHTTP(sw, r)
		e.mu.Lock()
		e.seen = append(e.seen, seenRequest{r.Method, r.URL.String(), r.Header.Get("Origin"), r.Header.Get("Sec-Fetch-Site"), sw.status})
		e.mu.Unlock()
	}), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	provider := credentials.StaticCredentialsProvider{Value: creds}
	e.sqs = sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.url), Credentials: provider})
	e.s3 = s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.url), UsePathStyle: true, Credentials: provider})
	return e
}

// attackPage is what a site the developer happens to open serves: it
// drives the local endpoint every way a page can without credentials, and
// records in window.results what it could read.
const attackPage = `<!doctype html><html><body>
<iframe name="sink" id="sink"></iframe>
<script>
const E = %[1]q, SRC = E + "/000000000000/mailflow-source", DLQ = E + "/000000000000/mailflow-dlq";
const FORGED = %[2]q; // a presigned-looking query with a made-up signature
const enc = encodeURIComponent;
window.results = {};
function img(url) { return new Promise(r => { const i = new Image(); i.onload = i.onerror = r; i.src = url; }); }
function form(action, fields) {
  return new Promise(r => {
    const f = document.createElement("form");
    f.method = "POST"; f.action = action; f.target = "sink";
    for (const [k, v] of Object.entries(fields)) { const i = document.createElement("input"); i.name = k; i.value = v; f.appendChild(i); }
    document.getElementById("sink").onload = r; setTimeout(r, 5000);
    document.body.appendChild(f); f.submit();
  });
}
async function run() {
  await img(E + "/?Action=PurgeQueue&QueueUrl=" + enc(SRC));
  await img(E + "/?Action=PurgeQueue&QueueUrl=" + enc(SRC) + "&" + FORGED);
  await form(E + "/", {Action: "DeleteQueue", QueueUrl: DLQ});
  await form(E + "/?" + FORGED, {Action: "DeleteQueue", QueueUrl: DLQ});
  await fetch(E + "/", {method: "POST", mode: "no-cors", headers: {"Content-Type": "application/x-www-form-urlencoded"},
    body: "Action=SendMessage&QueueUrl=" + enc(SRC) + "&MessageBody=pwned"}).catch(() => {});
  await fetch(E + "/?" + FORGED, {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"},
    body: "Action=SendMessage&QueueUrl=" + enc(SRC) + "&MessageBody=pwned"}).catch(() => {});
  try {
    await fetch(E + "/", {method: "POST", body: JSON.stringify({QueueUrl: SRC, MessageBody: "pwned"}),
      headers: {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.SendMessage",
        "Authorization": "AWS4-HMAC-SHA256 Credential=local/20260301/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=" + "ab".repeat(32)}});
    window.results.signedFetch = "sent";
  } catch (e) { window.results.signedFetch = "blocked"; }
  for (const [name, url] of [["s3", E + "/mailflow-attachments/attachments/secret.txt"], ["s3forged", E + "/mailflow-attachments/attachments/secret.txt?" + FORGED.replace("/sqs/", "/s3/")]]) {
    try { const r = await fetch(url); window.results[name] = "read: " + await r.text(); }
    catch (e) { window.results[name] = "blocked: " + e; }
  }
  window.done = true;
}
run();
</script></body></html>`

// TestBrowserAttack opens, in a real Chromium, a page of another origin
// that tries to drive the local endpoint: a GET link that purges the source
// queue, cross-origin form POSTs that delete the dead-letter queue,
// no-cors fetches that enqueue mail, a fetch with a forged Authorization
// header, reads of an attachment; each also with a forged presigned query.
// Every one reaches the endpoint and is refused, and nothing changed: the
// queues exist, the one message is still there and no other was enqueued,
// the page read nothing. The page is served from 127.0.0.1 on another port
// (same site, other origin) and from localhost (another site).
func TestBrowserAttack(t *testing.T) {
	e := startEndpoint(t)
	ctx := context.Background()
	var srcURL string
	for _, q := range []string{"mailflow-dlq", "mailflow-source"} {
		out, err := e.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(q)})
		if err != nil {
			t.Fatal(err)
		}
		srcURL = *out.QueueUrl
	}
	if _, err := e.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(srcURL), MessageBody: aws.String("the real mail")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("mailflow-attachments"), Key: aws.String("attachments/secret.txt"),
		Body: strings.NewReader("TOP-SECRET attachment")}); err != nil {
		t.Fatal(err)
	}
	forged := forgedPresign(time.Now(), "sqs").URL.RawQuery
	forged = forged[strings.Index(forged, "X-Amz-"):] // the signing fields only
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, attackPage, e.url, forged)
	}))
	defer attacker.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(attacker.URL, "http://"))

	bctx := startBrowser(t)
	for _, page := range []string{attacker.URL, "http://localhost:" + port} {
		before := len(e.browserRequests())
		tctx, cancel := context.WithTimeout(bctx, 60*time.Second)
		if err := chromedp.Do(tctx, chromedp.Navigate(page+"/")); err != nil {
			cancel()
			t.Fatalf("open %s: %v", page, err)
		}
		if _, err := chromedp.Run(tctx, chromedp.Poll[bool](`window.done === true`, chromedp.WithPollingTimeout(50*time.Second))); err != nil {
			cancel()
			t.Fatalf("%s did not finish: %v", page, err)
		}
		results, err := chromedp.Run(tctx, chromedp.Evaluate[map[string]string](`window.results`))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"s3", "s3forged"} {
			if strings.Contains(results[k], "TOP-SECRET") || !strings.HasPrefix(results[k], "blocked") {
				t.Errorf("page %s, %s: %q", page, k, results[k])
			}
		}
		if results["signedFetch"] != "blocked" {
			t.Errorf("page %s: a fetch with an Authorization header was %s", page, results["signedFetch"])
		}
		// The attacks reached the endpoint (so their failure is its doing)
		// and each was refused.
		reqs := e.browserRequests()[before:]
		if len(reqs) < 8 {
			t.Errorf("page %s: only %d requests reached the endpoint: %+v", page, len(reqs), reqs)
		}
		for _, r := range reqs {
			if r.status < 400 {
				t.Errorf("page %s: %s %s (Origin %q, Sec-Fetch-Site %q) answered %d", page, r.method, r.target, r.origin, r.site, r.status)
			}
		}
	}

	// DNS rebinding: a page of rebind.attacker.example, its name now
	// pointing at 127.0.0.1, is same-origin with "the endpoint" to the
	// browser; only the Host tells. Even signed, it is refused.
	req, err := http.NewRequest(http.MethodPost, e.url+"/", strings.NewReader("Action=PurgeQueue&QueueUrl="+srcURL))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "rebind.attacker.example:" + strings.Split(e.url, ":")[2]
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if err := testkit.SignV4(req, testkit.LocalCredentials, "sqs"); err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("rebound Host: %d, want 421", res.StatusCode)
	}

	// Nothing changed.
	if _, err := e.sqs.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("mailflow-dlq")}); err != nil {
		t.Errorf("the dead-letter queue is gone: %v", err)
	}
	out, err := e.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(srcURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, m := range out.Messages {
		bodies = append(bodies, *m.Body)
	}
	attrs, err := e.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(srcURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages}})
	if err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 1 || bodies[0] != "the real mail" || attrs.Attributes["ApproximateNumberOfMessages"] != "0" {
		t.Errorf("source queue after the attack: %q (visible after receiving: %s), want only the real mail", bodies, attrs.Attributes["ApproximateNumberOfMessages"])
	}
}

// TestStateChangesNeedPOST: even signed, a GET (a link a page could
// plant) may only read.
func TestStateChangesNeedPOST(t *testing.T) {
	t.Parallel()
	e := startEndpoint(t)
	ctx := context.Background()
	out, err := e.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("q")})
	if err != nil {
		t.Fatal(err)
	}
	get := func(query string) (int, string) {
		req, err := http.NewRequest(http.MethodGet, e.url+"/?"+query, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := testkit.SignV4(req, testkit.LocalCredentials, "sqs"); err != nil {
			t.Fatal(err)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var b strings.Builder
		_, _ = fmt.Fprint(&b, res.Header.Get("Content-Type"), " ")
		buf := make([]byte, 2048)
		n, _ := res.Body.Read(buf)
		b.Write(buf[:n])
		return res.StatusCode, b.String()
	}
	if code, body := get("Action=DeleteQueue&QueueUrl=" + *out.QueueUrl); code != http.StatusMethodNotAllowed || !strings.Contains(body, "UnsupportedOperation") || !strings.Contains(body, "only through POST") {
		t.Errorf("signed GET DeleteQueue: %d %s", code, body)
	}
	if code, body := get("Action=ListQueues"); code != 200 || !strings.Contains(body, "/q<") {
		t.Errorf("signed GET ListQueues: %d %s", code, body)
	}
	if _, err := e.sqs.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("q")}); err != nil {
		t.Errorf("the queue is gone: %v", err)
	}
}

// startBrowser starts headless Chromium with a fresh profile.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	return browser.Start(t)
}
