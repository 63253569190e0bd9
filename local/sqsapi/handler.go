package sqsapi

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/mailflow/mailflow/local/sqsstore"
)

// XMLNamespace is the namespace of every query-protocol answer.
const XMLNamespace = "http://queue.amazonaws.com/doc/2012-11-05/"

const jsonContentType = "application/x-amz-json-1.0"

// MaxRequestBytes bounds a request body: ten 1 MiB messages plus encoding.
const MaxRequestBytes = 16 << 20

// Options configure a Handler.
type Options struct {
	// BaseURL, when set (e.g. "http://127.0.0.1:4566"), is used for queue
	// URLs instead of the request's Host.
	BaseURL string
}

// Handler is the SQS endpoint.
type Handler struct {
	store *sqsstore.Store
	opts  Options
}

// New returns an endpoint serving store.
func New(store *sqsstore.Store, opts Options) *Handler {
	return &Handler{store: store, opts: opts}
}

type protocol int

const (
	protoJSON protocol = iota
	protoQuery
)

// call is one request being served.
type call struct {
	h         *Handler
	w         http.ResponseWriter
	r         *http.Request
	proto     protocol
	op        string
	requestID string
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := &call{h: h, w: w, r: r, requestID: newRequestID()}
	w.Header().Set("x-amzn-RequestId", c.requestID)
	r.Body = http.MaxBytesReader(w, r.Body, MaxRequestBytes)

	if target := r.Header.Get("X-Amz-Target"); target != "" {
		c.proto = protoJSON
		if r.Method != http.MethodPost {
			c.fail(&apiError{code: "UnsupportedOperation", status: http.StatusMethodNotAllowed,
				msg: "The JSON protocol takes POST requests only, not " + r.Method + "."})
			return
		}
		op, ok := strings.CutPrefix(target, "AmazonSQS.")
		if !ok {
			c.fail(&apiError{typ: "com.amazon.coral.service#UnknownOperationException", code: "UnknownOperationException",
				status: 400, msg: "Unknown target " + target})
			return
		}
		c.op = op
		body, err := io.ReadAll(r.Body)
		if err != nil {
			c.fail(&apiError{code: "InvalidParameterValue", status: 400, msg: "Could not read the request body: " + err.Error()})
			return
		}
		var req request
		if len(strings.TrimSpace(string(body))) > 0 {
			if err := json.Unmarshal(body, &req); err != nil {
				c.fail(&apiError{typ: "com.amazon.coral.service#SerializationException", code: "SerializationException",
					status: 400, msg: "Could not parse the request: " + err.Error()})
				return
			}
		}
		c.dispatch(&req)
		return
	}

	c.proto = protoQuery
	if err := r.ParseForm(); err != nil {
		c.fail(&apiError{code: "MalformedQueryString", status: 400, msg: err.Error()})
		return
	}
	c.op = r.Form.Get("Action")
	if c.op == "" {
		c.fail(&apiError{code: "MissingAction", status: 400, msg: "The request must contain the parameter Action."})
		return
	}
	if r.Method != http.MethodPost && !readOnly[c.op] {
		c.fail(&apiError{code: "UnsupportedOperation", status: http.StatusMethodNotAllowed,
			msg: "The local endpoint changes state only through POST: send " + c.op + " as a POST with a form-encoded body, as every SDK and the AWS CLI do (" + r.Method + " serves only " + readOnlyList() + ")."})
		return
	}
	req, err := parseQuery(c.op, r.Form)
	if err != nil {
		c.fail(err)
		return
	}
	if req.QueueUrl == "" && strings.Count(strings.Trim(r.URL.Path, "/"), "/") == 1 {
		// Query clients may post to the queue URL itself.
		req.QueueUrl = "http://" + r.Host + r.URL.Path
	}
	c.dispatch(req)
}

// readOnly are the actions a query-protocol request may carry by GET (or
// any method but POST). AWS takes every action by GET; locally a state
// change by GET would be one a web page can make with a link or an image,
// so it must be a POST.
var readOnly = map[string]bool{
	"GetQueueUrl": true, "ListQueues": true, "GetQueueAttributes": true,
	"ListQueueTags": true, "ListDeadLetterSourceQueues": true, "ListMessageMoveTasks": true,
}

func readOnlyList() string {
	names := make([]string, 0, len(readOnly))
	for n := range readOnly {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// WriteError answers r with an SQS error in the protocol r speaks: JSON
// when it carries X-Amz-Target, else the query protocol's XML. It is for
// what stands in front of the handler (gateway.Router's checks), so that
// clients see the errors their SDK decodes.
func WriteError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	c := &call{w: w, r: r, proto: protoQuery, requestID: newRequestID()}
	if r.Header.Get("X-Amz-Target") != "" {
		c.proto = protoJSON
	}
	w.Header().Set("x-amzn-RequestId", c.requestID)
	c.fail(&apiError{code: code, status: status, msg: message})
}

// apiError is an error answer not produced by the store.
type apiError struct {
	typ    string // JSON __type; default com.amazonaws.sqs#<code>
	code   string
	status int
	msg    string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func (c *call) fail(err error) {
	var code, queryCode, typ, msg string
	status := 400
	sender := true
	switch e := err.(type) {
	case *apiError:
		code, queryCode, typ, msg, status = e.code, e.code, e.typ, e.msg, e.status
	default:
		if se := sqsstoreError(err); se != nil {
			code, queryCode, msg = string(se.Code), se.Code.QueryCode(), se.Message
			status, sender = se.Code.HTTPStatus(), se.Code.SenderFault()
		} else if c.r.Context().Err() != nil {
			return // the client went away
		} else {
			code, queryCode, msg, status, sender = "InternalError", "InternalError", "We encountered an internal error. Please try again.", 500, false
		}
	}
	if typ == "" {
		typ = "com.amazonaws.sqs#" + code
	}
	fault := "Sender"
	if !sender {
		fault = "Receiver"
	}
	if c.proto == protoJSON {
		c.w.Header().Set("Content-Type", jsonContentType)
		c.w.Header().Set("x-amzn-query-error", queryCode+";"+fault)
		c.w.WriteHeader(status)
		_ = json.NewEncoder(c.w).Encode(map[string]string{"__type": typ, "message": msg})
		return
	}
	c.w.Header().Set("Content-Type", "text/xml")
	c.w.WriteHeader(status)
	type xmlErr struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
		Detail  string `xml:"Detail"`
	}
	doc := struct {
		XMLName   xml.Name `xml:"ErrorResponse"`
		Xmlns     string   `xml:"xmlns,attr"`
		Error     xmlErr   `xml:"Error"`
		RequestID string   `xml:"RequestId"`
	}{Xmlns: XMLNamespace, Error: xmlErr{Type: fault, Code: queryCode, Message: msg}, RequestID: c.requestID}
	_, _ = io.WriteString(c.w, xml.Header)
	_ = xml.NewEncoder(c.w).Encode(doc)
}

// reply writes a successful answer. result is nil for operations without a
// result element.
func (c *call) reply(result any) {
	if c.proto == protoJSON {
		c.w.Header().Set("Content-Type", jsonContentType)
		if result == nil {
			_, _ = io.WriteString(c.w, "{}")
			return
		}
		_ = json.NewEncoder(c.w).Encode(result)
		return
	}
	c.w.Header().Set("Content-Type", "text/xml")
	_, _ = io.WriteString(c.w, xml.Header)
	enc := xml.NewEncoder(c.w)
	start := xml.StartElement{Name: xml.Name{Local: c.op + "Response"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: XMLNamespace}}}
	_ = enc.EncodeToken(start)
	if result != nil {
		_ = enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: c.op + "Result"}})
	}
	_ = enc.EncodeElement(struct {
		RequestID string `xml:"RequestId"`
	}{c.requestID}, xml.StartElement{Name: xml.Name{Local: "ResponseMetadata"}})
	_ = enc.EncodeToken(start.End())
	_ = enc.Flush()
}

// queueURL is the URL of the named queue as seen by this request's client.
func (c *call) queueURL(name string) string {
	base := c.h.opts.BaseURL
	if base == "" {
		base = "http://" + c.r.Host
	}
	return strings.TrimRight(base, "/") + "/" + c.h.store.AccountID() + "/" + name
}

// queueName resolves a queue URL to a queue name.
func (c *call) queueName(queueURL string) (string, error) {
	if queueURL == "" {
		return "", missing("QueueUrl")
	}
	if _, err := url.Parse(queueURL); err != nil {
		return "", &sqsstore.Error{Code: sqsstore.CodeInvalidParameterValue, Message: fmt.Sprintf("Value %s for parameter QueueUrl is invalid. Reason: Unable to parse.", queueURL)}
	}
	name, ok := QueueNameFromURL(queueURL, c.h.store.AccountID())
	if !ok {
		return "", &sqsstore.Error{Code: sqsstore.CodeQueueDoesNotExist, Message: "The specified queue does not exist."}
	}
	return name, nil
}

// QueueNameFromURL returns the queue name of a queue URL of the account
// (".../<account>/<name>", whatever the host), as in-process callers holding
// a URL (such as an sqs:sendMessage task) need for sqsstore.
func QueueNameFromURL(queueURL, account string) (string, bool) {
	u, err := url.Parse(queueURL)
	if err != nil {
		return "", false
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) != 2 || parts[0] != account || parts[1] == "" {
		return "", false
	}
	return parts[1], true
}

func missing(param string) error {
	return &sqsstore.Error{Code: sqsstore.CodeMissingParameter, Message: "The request must contain the parameter " + param + "."}
}

func sqsstoreError(err error) *sqsstore.Error {
	var se *sqsstore.Error
	if errors.As(err, &se) {
		return se
	}
	return nil
}

// senderID is the access key id of the request's SigV4 credential, or "".
func senderID(r *http.Request) string {
	auth := r.Header.Get("Authorization")
	_, cred, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return ""
	}
	key, _, _ := strings.Cut(cred, "/")
	return key
}
