package sqsapi

import (
	"encoding/base64"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/mailflow/mailflow/local/sqsstore"
)

// request is the union of every operation's input, in the JSON protocol's
// field names. Query requests are parsed into the same shape.
type request struct {
	QueueName                    string
	QueueUrl                     string
	QueueOwnerAWSAccountId       string
	QueueNamePrefix              string
	NextToken                    string
	MaxResults                   *int
	Attributes                   map[string]string
	Tags                         map[string]string // CreateQueue's "tags" and TagQueue's "Tags"
	TagKeys                      []string
	AttributeNames               []string
	MessageSystemAttributeNames  []string
	MessageAttributeNames        []string
	MessageBody                  *text
	DelaySeconds                 *int
	MessageAttributes            map[string]attrIn
	MessageSystemAttributes      map[string]attrIn
	MessageGroupId               *string
	MessageDeduplicationId       *string
	MaxNumberOfMessages          *int
	VisibilityTimeout            *int
	WaitTimeSeconds              *int
	ReceiveRequestAttemptId      *string
	ReceiptHandle                *string
	Entries                      []entryIn
	SourceArn                    string
	DestinationArn               string
	MaxNumberOfMessagesPerSecond *int
	TaskHandle                   string
}

type attrIn struct {
	DataType         string
	StringValue      *text
	BinaryValue      []byte
	StringListValues []text
	BinaryListValues [][]byte
}

type entryIn struct {
	Id                      string
	MessageBody             *text
	DelaySeconds            *int
	MessageAttributes       map[string]attrIn
	MessageSystemAttributes map[string]attrIn
	MessageGroupId          *string
	MessageDeduplicationId  *string
	ReceiptHandle           *string
	VisibilityTimeout       *int
}

func invalidParam(name, value, reason string) error {
	return &sqsstore.Error{Code: sqsstore.CodeInvalidParameterValue,
		Message: "Value " + value + " for parameter " + name + " is invalid. Reason: " + reason}
}

// form reads the flattened, 1-indexed lists of the query protocol.
type form url.Values

func (f form) get(k string) (string, bool) {
	v, ok := f[k]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[0], true
}

func (f form) str(k string) string { v, _ := f.get(k); return v }

func (f form) strPtr(k string) *string {
	if v, ok := f.get(k); ok {
		return &v
	}
	return nil
}

func (f form) textPtr(k string) *text {
	if v, ok := f.get(k); ok {
		t := text(v)
		return &t
	}
	return nil
}

func (f form) intPtr(k string) (*int, error) {
	v, ok := f.get(k)
	if !ok {
		return nil, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return nil, invalidParam(k, v, "Must be an integer.")
	}
	return &n, nil
}

// indices returns the sorted N of every key "<prefix>.N..." present.
func (f form) indices(prefix string) []int {
	seen := map[int]bool{}
	for k := range f {
		rest, ok := strings.CutPrefix(k, prefix+".")
		if !ok {
			continue
		}
		num, _, _ := strings.Cut(rest, ".")
		if n, err := strconv.Atoi(num); err == nil && n > 0 {
			seen[n] = true
		}
	}
	out := make([]int, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Ints(out)
	return out
}

func (f form) list(prefix string) []string {
	var out []string
	for _, n := range f.indices(prefix) {
		out = append(out, f.str(prefix+"."+strconv.Itoa(n)))
	}
	return out
}

func (f form) pairs(prefix, keyField, valueField string) map[string]string {
	idx := f.indices(prefix)
	if len(idx) == 0 {
		return nil
	}
	out := map[string]string{}
	for _, n := range idx {
		p := prefix + "." + strconv.Itoa(n) + "."
		out[f.str(p+keyField)] = f.str(p + valueField)
	}
	return out
}

func (f form) messageAttributes(prefix string) (map[string]attrIn, error) {
	idx := f.indices(prefix)
	if len(idx) == 0 {
		return nil, nil
	}
	out := map[string]attrIn{}
	for _, n := range idx {
		p := prefix + "." + strconv.Itoa(n) + "."
		a := attrIn{DataType: f.str(p + "Value.DataType"), StringValue: f.textPtr(p + "Value.StringValue")}
		if b, ok := f.get(p + "Value.BinaryValue"); ok {
			dec, err := base64.StdEncoding.DecodeString(b)
			if err != nil {
				return nil, invalidParam(p+"Value.BinaryValue", b, "Binary values must be base64-encoded.")
			}
			a.BinaryValue = dec
		}
		for _, v := range f.list(p + "Value.StringListValue") {
			a.StringListValues = append(a.StringListValues, text(v))
		}
		for _, s := range f.list(p + "Value.BinaryListValue") {
			a.BinaryListValues = append(a.BinaryListValues, []byte(s))
		}
		out[f.str(p+"Name")] = a
	}
	return out, nil
}

// parseQuery builds a request from a query-protocol form.
func parseQuery(op string, values url.Values) (*request, error) {
	f := form(values)
	req := &request{
		QueueName:                   f.str("QueueName"),
		QueueUrl:                    f.str("QueueUrl"),
		QueueOwnerAWSAccountId:      f.str("QueueOwnerAWSAccountId"),
		QueueNamePrefix:             f.str("QueueNamePrefix"),
		NextToken:                   f.str("NextToken"),
		MessageBody:                 f.textPtr("MessageBody"),
		MessageGroupId:              f.strPtr("MessageGroupId"),
		MessageDeduplicationId:      f.strPtr("MessageDeduplicationId"),
		ReceiveRequestAttemptId:     f.strPtr("ReceiveRequestAttemptId"),
		ReceiptHandle:               f.strPtr("ReceiptHandle"),
		SourceArn:                   f.str("SourceArn"),
		DestinationArn:              f.str("DestinationArn"),
		TaskHandle:                  f.str("TaskHandle"),
		Attributes:                  f.pairs("Attribute", "Name", "Value"),
		Tags:                        f.pairs("Tag", "Key", "Value"),
		TagKeys:                     f.list("TagKey"),
		AttributeNames:              f.list("AttributeName"),
		MessageSystemAttributeNames: f.list("MessageSystemAttributeName"),
		MessageAttributeNames:       f.list("MessageAttributeName"),
	}
	var err error
	for _, p := range []struct {
		key string
		dst **int
	}{
		{"MaxResults", &req.MaxResults}, {"DelaySeconds", &req.DelaySeconds},
		{"MaxNumberOfMessages", &req.MaxNumberOfMessages}, {"VisibilityTimeout", &req.VisibilityTimeout},
		{"WaitTimeSeconds", &req.WaitTimeSeconds}, {"MaxNumberOfMessagesPerSecond", &req.MaxNumberOfMessagesPerSecond},
	} {
		if *p.dst, err = f.intPtr(p.key); err != nil {
			return nil, err
		}
	}
	if req.MessageAttributes, err = f.messageAttributes("MessageAttribute"); err != nil {
		return nil, err
	}
	if req.MessageSystemAttributes, err = f.messageAttributes("MessageSystemAttribute"); err != nil {
		return nil, err
	}
	entryPrefix := map[string]string{
		"SendMessageBatch":             "SendMessageBatchRequestEntry",
		"DeleteMessageBatch":           "DeleteMessageBatchRequestEntry",
		"ChangeMessageVisibilityBatch": "ChangeMessageVisibilityBatchRequestEntry",
	}[op]
	if entryPrefix != "" {
		for _, n := range f.indices(entryPrefix) {
			p := entryPrefix + "." + strconv.Itoa(n) + "."
			e := entryIn{
				Id:                     f.str(p + "Id"),
				MessageBody:            f.textPtr(p + "MessageBody"),
				ReceiptHandle:          f.strPtr(p + "ReceiptHandle"),
				MessageGroupId:         f.strPtr(p + "MessageGroupId"),
				MessageDeduplicationId: f.strPtr(p + "MessageDeduplicationId"),
			}
			if e.DelaySeconds, err = f.intPtr(p + "DelaySeconds"); err != nil {
				return nil, err
			}
			if e.VisibilityTimeout, err = f.intPtr(p + "VisibilityTimeout"); err != nil {
				return nil, err
			}
			if e.MessageAttributes, err = f.messageAttributes(p + "MessageAttribute"); err != nil {
				return nil, err
			}
			if e.MessageSystemAttributes, err = f.messageAttributes(p + "MessageSystemAttribute"); err != nil {
				return nil, err
			}
			req.Entries = append(req.Entries, e)
		}
	}
	return req, nil
}
