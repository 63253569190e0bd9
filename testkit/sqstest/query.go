package sqstest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// regionOf is the region of the SDK's credential scope
// (".../<date>/<region>/sqs/aws4_request"), us-east-1 without one.
func regionOf(r *http.Request) string {
	_, cred, _ := strings.Cut(r.Header.Get("Authorization"), "Credential=")
	cred, _, _ = strings.Cut(cred, ",")
	if parts := strings.Split(cred, "/"); len(parts) == 5 {
		return parts[2]
	}
	return "us-east-1"
}

// QueryProtocol returns a transport that carries the SDK's JSON-protocol
// requests to an endpoint in the query protocol (form-encoded Action=...,
// answered in XML), as older SDKs and the AWS CLI v1 speak it, and turns the
// XML answers back into the JSON the SDK expects. With it the suite drives an
// endpoint's query protocol through the same tests and the same typed SDK
// errors as its JSON protocol:
//
//	client := sqs.New(sqs.Options{..., HTTPClient: &http.Client{Transport: sqstest.QueryProtocol(nil)}})
//
// It knows SQS's query conventions (flattened, 1-indexed lists and maps;
// the <Op>Response/<Op>Result envelope; <ErrorResponse>), not any one
// implementation. next is the transport underneath (nil:
// http.DefaultTransport). A request the SDK signed is signed again over its
// form, with creds, as a query client signs it (the SDK's signature covers
// the JSON body and X-Amz-Target, which the form replaces).
func QueryProtocol(next http.RoundTripper, creds aws.Credentials) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &queryTransport{next: next, creds: creds}
}

type queryTransport struct {
	next  http.RoundTripper
	creds aws.Credentials
}

func (q *queryTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "AmazonSQS.")
	if !ok {
		return nil, fmt.Errorf("sqstest: not an SQS JSON request (X-Amz-Target %q)", r.Header.Get("X-Amz-Target"))
	}
	var in map[string]any
	if r.Body != nil {
		body, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(body)) > 0 {
			d := json.NewDecoder(bytes.NewReader(body))
			d.UseNumber()
			if err := d.Decode(&in); err != nil {
				return nil, fmt.Errorf("sqstest: the SDK's %s request: %w", op, err)
			}
		}
	}
	form := url.Values{"Action": {op}, "Version": {"2012-11-05"}}
	flattenRequest(form, "", op, in)
	encoded := form.Encode()

	req := r.Clone(r.Context())
	req.Header.Del("X-Amz-Target")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.Body = io.NopCloser(strings.NewReader(encoded))
	req.ContentLength = int64(len(encoded))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(encoded)), nil }
	if req.Header.Get("Authorization") != "" {
		req.Header.Del("Authorization")
		sum := sha256.Sum256([]byte(encoded))
		if err := v4.NewSigner().SignHTTP(r.Context(), q.creds, req, hex.EncodeToString(sum[:]), "sqs", regionOf(r), time.Now()); err != nil {
			return nil, fmt.Errorf("sqstest: sign the %s form: %w", op, err)
		}
	}
	resp, err := q.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, "xml") {
		return nil, fmt.Errorf("sqstest: %s answered %d with Content-Type %q, not XML: %s", op, resp.StatusCode, ct, raw)
	}
	root, err := parseXML(raw)
	if err != nil {
		return nil, fmt.Errorf("sqstest: %s answer: %w: %s", op, err, raw)
	}
	out := &http.Response{
		Status: resp.Status, StatusCode: resp.StatusCode, Proto: resp.Proto, ProtoMajor: resp.ProtoMajor, ProtoMinor: resp.ProtoMinor,
		Header: resp.Header.Clone(), Request: r,
	}
	out.Header.Set("Content-Type", "application/x-amz-json-1.0")
	var doc any
	if root.name == "ErrorResponse" {
		e := root.child("Error")
		if e == nil {
			return nil, fmt.Errorf("sqstest: %s: <ErrorResponse> without <Error>: %s", op, raw)
		}
		code, typ := e.text("Code"), e.text("Type")
		out.Header.Set("x-amzn-query-error", code+";"+typ)
		doc = map[string]any{"__type": "com.amazonaws.sqs#" + jsonErrorCode(code), "message": e.text("Message")}
	} else {
		if root.name != op+"Response" {
			return nil, fmt.Errorf("sqstest: %s answered with <%s>: %s", op, root.name, raw)
		}
		doc = resultJSON(op, root.child(op+"Result"))
	}
	js, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	out.Body = io.NopCloser(bytes.NewReader(js))
	out.ContentLength = int64(len(js))
	out.Header.Set("Content-Length", strconv.Itoa(len(js)))
	return out, nil
}

// queryListMember is the flattened name of each JSON list or map field.
var queryListMember = map[string]string{
	"Attributes":                  "Attribute",
	"Tags":                        "Tag",
	"tags":                        "Tag",
	"TagKeys":                     "TagKey",
	"AttributeNames":              "AttributeName",
	"MessageAttributeNames":       "MessageAttributeName",
	"MessageSystemAttributeNames": "MessageSystemAttributeName",
	"MessageAttributes":           "MessageAttribute",
	"MessageSystemAttributes":     "MessageSystemAttribute",
	"StringListValues":            "StringListValue",
	"BinaryListValues":            "BinaryListValue",
}

// flattenRequest writes the JSON object in under prefix in the query
// protocol's form.
func flattenRequest(form url.Values, prefix, op string, in map[string]any) {
	for k, v := range in {
		switch v := v.(type) {
		case map[string]any:
			member := queryListMember[k]
			if member == "" {
				member = k
			}
			keyField, valueField := "Name", "Value"
			if member == "Tag" {
				keyField = "Key"
			}
			for i, name := range sortedKeys(v) {
				p := prefix + member + "." + strconv.Itoa(i+1) + "."
				form.Set(p+keyField, name)
				switch val := v[name].(type) {
				case map[string]any:
					flattenRequest(form, p+valueField+".", op, val)
				default:
					form.Set(p+valueField, scalar(val))
				}
			}
		case []any:
			member := queryListMember[k]
			if k == "Entries" {
				member = op + "RequestEntry"
			}
			if member == "" {
				member = k
			}
			for i, item := range v {
				p := prefix + member + "." + strconv.Itoa(i+1)
				if obj, ok := item.(map[string]any); ok {
					flattenRequest(form, p+".", op, obj)
				} else {
					form.Set(p, scalar(item))
				}
			}
		default:
			form.Set(prefix+k, scalar(v))
		}
	}
}

func scalar(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// jsonErrorCode is the JSON protocol's shape name for a query error code,
// as AWS documents the pairs (the AWS.SimpleQueueService. prefix and two
// renamed codes).
func jsonErrorCode(query string) string {
	switch query {
	case "AWS.SimpleQueueService.NonExistentQueue":
		return "QueueDoesNotExist"
	case "QueueAlreadyExists":
		return "QueueNameExists"
	}
	return strings.TrimPrefix(query, "AWS.SimpleQueueService.")
}

// node is one XML element.
type node struct {
	name     string
	chardata strings.Builder
	children []*node
}

func (n *node) child(name string) *node {
	for _, c := range n.children {
		if c.name == name {
			return c
		}
	}
	return nil
}

func (n *node) text(name string) string {
	if c := n.child(name); c != nil {
		return c.chardata.String()
	}
	return ""
}

func parseXML(raw []byte) (*node, error) {
	d := xml.NewDecoder(bytes.NewReader(raw))
	var stack []*node
	var root *node
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			n := &node{name: tok.Name.Local}
			if len(stack) > 0 {
				top := stack[len(stack)-1]
				top.children = append(top.children, n)
			} else if root == nil {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].chardata.Write(tok)
			}
		}
	}
	if root == nil {
		return nil, fmt.Errorf("no XML element")
	}
	return root, nil
}

// resultList is the JSON list field each flattened result element belongs to.
var resultList = map[string]string{
	"Message":                                 "Messages",
	"SendMessageBatchResultEntry":             "Successful",
	"DeleteMessageBatchResultEntry":           "Successful",
	"ChangeMessageVisibilityBatchResultEntry": "Successful",
	"BatchResultErrorEntry":                   "Failed",
	"ListMessageMoveTasksResultEntry":         "Results",
}

// numeric and boolean result fields; everything else is a string.
var (
	resultNumbers = map[string]bool{"ApproximateNumberOfMessagesMoved": true, "ApproximateNumberOfMessagesToMove": true,
		"MaxNumberOfMessagesPerSecond": true, "StartedTimestamp": true}
	resultBools = map[string]bool{"SenderFault": true}
)

// resultJSON converts an <Op>Result element (nil: none) to the JSON answer.
func resultJSON(op string, result *node) map[string]any {
	out := map[string]any{}
	switch op {
	case "SendMessageBatch", "DeleteMessageBatch", "ChangeMessageVisibilityBatch":
		out["Successful"], out["Failed"] = []any{}, []any{}
	case "ListMessageMoveTasks":
		out["Results"] = []any{}
	}
	if result == nil {
		return out
	}
	for k, v := range objectJSON(result) {
		out[k] = v
	}
	if op == "ListQueues" || op == "ListDeadLetterSourceQueues" {
		var urls []any
		for _, c := range result.children {
			if c.name == "QueueUrl" {
				urls = append(urls, c.chardata.String())
			}
		}
		delete(out, "QueueUrl")
		if len(urls) > 0 {
			key := "QueueUrls"
			if op == "ListDeadLetterSourceQueues" {
				key = "queueUrls"
			}
			out[key] = urls
		}
	}
	return out
}

func objectJSON(n *node) map[string]any {
	out := map[string]any{}
	appendTo := func(key string, v any) {
		list, _ := out[key].([]any)
		out[key] = append(list, v)
	}
	putIn := func(key, name string, v any) {
		m, _ := out[key].(map[string]any)
		if m == nil {
			m = map[string]any{}
			out[key] = m
		}
		m[name] = v
	}
	for _, c := range n.children {
		switch {
		case c.name == "Attribute":
			putIn("Attributes", c.text("Name"), c.text("Value"))
		case c.name == "Tag":
			putIn("Tags", c.text("Key"), c.text("Value"))
		case c.name == "MessageAttribute":
			v := map[string]any{}
			if val := c.child("Value"); val != nil {
				for _, f := range val.children {
					switch f.name {
					case "StringValue", "BinaryValue", "DataType":
						v[f.name] = f.chardata.String()
					}
				}
			}
			putIn("MessageAttributes", c.text("Name"), v)
		case resultList[c.name] != "":
			appendTo(resultList[c.name], objectJSON(c))
		case resultNumbers[c.name]:
			out[c.name] = json.Number(strings.TrimSpace(c.chardata.String()))
		case resultBools[c.name]:
			out[c.name] = strings.TrimSpace(c.chardata.String()) == "true"
		default:
			out[c.name] = c.chardata.String()
		}
	}
	return out
}
