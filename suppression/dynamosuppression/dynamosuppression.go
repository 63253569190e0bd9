// Package dynamosuppression implements the [suppression.List] port on a
// DynamoDB table with aws-sdk-go-v2.
//
// The table has the partition key "address" (string, normalised) and no
// TTL: an entry stays until an operator deletes it. Item attributes:
// reason (S), at (N, Unix milliseconds), mailId, sesMessageId, feedbackId
// and note (S, absent when empty), bounce and complaint (S, the JSON of
// workflow.EventBounce / EventComplaint, absent when nil).
//
// Lookup is BatchGetItem, at most 100 keys a request (DynamoDB's limit),
// with consistent reads, asking again for the UnprocessedKeys a throttled
// request leaves (a bounded number of times, with a growing pause).
//
// List is a Scan with Limit and ExclusiveStartKey: pages come in
// DynamoDB's hash order, not address order (a sorted listing would need
// the whole table read, or an index on one constant key, which funnels
// every write into one partition). The next token is the address of
// LastEvaluatedKey; DynamoDB may end a page there with nothing after it,
// so the last page can be empty.
package dynamosuppression

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mailflow/mailflow/suppression"
	"github.com/mailflow/mailflow/workflow"
)

// API is the part of the DynamoDB client the adapter uses.
type API interface {
	BatchGetItem(context.Context, *dynamodb.BatchGetItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Scan(context.Context, *dynamodb.ScanInput, ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

// List is the DynamoDB suppression table.
type List struct {
	api   API
	table string
}

var _ suppression.List = (*List)(nil)

// New returns the adapter for the named table.
func New(api API, table string) (*List, error) {
	if api == nil {
		return nil, errors.New("dynamosuppression: nil client")
	}
	if table == "" {
		return nil, errors.New("dynamosuppression: empty table name")
	}
	return &List{api: api, table: table}, nil
}

const (
	attrAddress   = "address"
	attrReason    = "reason"
	attrAt        = "at"
	attrMailID    = "mailId"
	attrSESID     = "sesMessageId"
	attrFeedback  = "feedbackId"
	attrNote      = "note"
	attrBounce    = "bounce"
	attrComplaint = "complaint"
)

const (
	batchKeys = 100 // BatchGetItem's limit
	// unprocessedRounds bounds the requests for keys DynamoDB left
	// unprocessed (throttling); the pause doubles from unprocessedPause.
	unprocessedRounds = 8
	unprocessedPause  = 20 * time.Millisecond
)

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func key(addr string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrAddress: str(addr)}
}

// Lookup implements [suppression.List].
func (l *List) Lookup(ctx context.Context, addresses []string) ([]suppression.Entry, error) {
	var unique []string
	for _, a := range addresses {
		if !slices.Contains(unique, a) {
			unique = append(unique, a)
		}
	}
	found := make(map[string]suppression.Entry, len(unique))
	for chunk := range slices.Chunk(unique, batchKeys) {
		if err := l.batchGet(ctx, chunk, found); err != nil {
			return nil, err
		}
	}
	var out []suppression.Entry
	for _, a := range addresses {
		if e, ok := found[a]; ok {
			out = append(out, e)
		}
	}
	return out, nil
}

func (l *List) batchGet(ctx context.Context, addrs []string, found map[string]suppression.Entry) error {
	keys := make([]map[string]types.AttributeValue, len(addrs))
	for i, a := range addrs {
		keys[i] = key(a)
	}
	req := map[string]types.KeysAndAttributes{l.table: {Keys: keys, ConsistentRead: aws.Bool(true)}}
	pause := unprocessedPause
	for round := 0; ; round++ {
		out, err := l.api.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
		if err != nil {
			return fmt.Errorf("dynamosuppression: lookup %d addresses: %w", len(addrs), err)
		}
		for _, item := range out.Responses[l.table] {
			e, err := decode(item)
			if err != nil {
				return err
			}
			found[e.Address] = e
		}
		left, ok := out.UnprocessedKeys[l.table]
		if !ok || len(left.Keys) == 0 {
			return nil
		}
		if round+1 >= unprocessedRounds {
			return fmt.Errorf("dynamosuppression: lookup: %d of %d addresses still unprocessed after %d requests", len(left.Keys), len(addrs), unprocessedRounds)
		}
		req = map[string]types.KeysAndAttributes{l.table: left}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
		pause *= 2
	}
}

// Put implements [suppression.List].
func (l *List) Put(ctx context.Context, e suppression.Entry) error {
	if err := e.Validate(); err != nil {
		return err
	}
	item, err := encode(e)
	if err != nil {
		return err
	}
	if _, err := l.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(l.table), Item: item}); err != nil {
		return fmt.Errorf("dynamosuppression: put %q: %w", e.Address, err)
	}
	return nil
}

// Delete implements [suppression.List].
func (l *List) Delete(ctx context.Context, address string) (bool, error) {
	out, err := l.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(l.table), Key: key(address), ReturnValues: types.ReturnValueAllOld,
	})
	if err != nil {
		return false, fmt.Errorf("dynamosuppression: delete %q: %w", address, err)
	}
	return len(out.Attributes) > 0, nil
}

// List implements [suppression.List], in DynamoDB's order (see the package
// doc).
func (l *List) List(ctx context.Context, p suppression.ListParams) ([]suppression.Entry, string, error) {
	if err := p.Validate(); err != nil {
		return nil, "", err
	}
	in := &dynamodb.ScanInput{TableName: aws.String(l.table), Limit: aws.Int32(int32(p.Limit)), ConsistentRead: aws.Bool(true)}
	if p.After != "" {
		in.ExclusiveStartKey = key(p.After)
	}
	out, err := l.api.Scan(ctx, in)
	if err != nil {
		return nil, "", fmt.Errorf("dynamosuppression: list after %q: %w", p.After, err)
	}
	entries := make([]suppression.Entry, 0, len(out.Items))
	for _, item := range out.Items {
		e, err := decode(item)
		if err != nil {
			return nil, "", err
		}
		entries = append(entries, e)
	}
	next := ""
	if v, ok := out.LastEvaluatedKey[attrAddress].(*types.AttributeValueMemberS); ok {
		next = v.Value
	}
	return entries, next, nil
}

func encode(e suppression.Entry) (map[string]types.AttributeValue, error) {
	item := map[string]types.AttributeValue{
		attrAddress: str(e.Address),
		attrReason:  str(string(e.Reason)),
		attrAt:      &types.AttributeValueMemberN{Value: strconv.FormatInt(e.At.UnixMilli(), 10)},
	}
	for name, v := range map[string]string{attrMailID: e.MailID, attrSESID: e.SESMessageID, attrFeedback: e.FeedbackID, attrNote: e.Note} {
		if v != "" {
			item[name] = str(v)
		}
	}
	for name, v := range map[string]any{attrBounce: e.Bounce, attrComplaint: e.Complaint} {
		if v == (*workflow.EventBounce)(nil) || v == (*workflow.EventComplaint)(nil) {
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("dynamosuppression: encode %q: %w", e.Address, err)
		}
		item[name] = str(string(b))
	}
	return item, nil
}

func decode(item map[string]types.AttributeValue) (suppression.Entry, error) {
	var problems []error
	sv := func(name string) string {
		switch v := item[name].(type) {
		case nil:
		case *types.AttributeValueMemberS:
			return v.Value
		default:
			problems = append(problems, fmt.Errorf("attribute %s is a %T, not a string", name, v))
		}
		return ""
	}
	e := suppression.Entry{
		Address: sv(attrAddress), Reason: suppression.Reason(sv(attrReason)),
		MailID: sv(attrMailID), SESMessageID: sv(attrSESID), FeedbackID: sv(attrFeedback), Note: sv(attrNote),
	}
	if v, ok := item[attrAt].(*types.AttributeValueMemberN); ok {
		msec, err := strconv.ParseInt(v.Value, 10, 64)
		if err != nil {
			problems = append(problems, fmt.Errorf("attribute %s = %q is not an integer", attrAt, v.Value))
		}
		e.At = time.UnixMilli(msec).UTC()
	} else {
		problems = append(problems, fmt.Errorf("attribute %s is missing or not a number", attrAt))
	}
	if s := sv(attrBounce); s != "" {
		e.Bounce = new(workflow.EventBounce)
		if err := json.Unmarshal([]byte(s), e.Bounce); err != nil {
			problems = append(problems, fmt.Errorf("attribute %s: %w", attrBounce, err))
		}
	}
	if s := sv(attrComplaint); s != "" {
		e.Complaint = new(workflow.EventComplaint)
		if err := json.Unmarshal([]byte(s), e.Complaint); err != nil {
			problems = append(problems, fmt.Errorf("attribute %s: %w", attrComplaint, err))
		}
	}
	if err := errors.Join(problems...); err != nil {
		return e, fmt.Errorf("dynamosuppression: item %q: %w", e.Address, err)
	}
	return e, nil
}

// CreateTable creates a suppression table with on-demand billing and
// waits until it is active. Deployments create the table with the CDK app;
// this is for tests and local setups.
func CreateTable(ctx context.Context, client *dynamodb.Client, table string) error {
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(attrAddress), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(attrAddress), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	if err != nil {
		return fmt.Errorf("dynamosuppression: create table %s: %w", table, err)
	}
	w := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = 10 * time.Millisecond
		o.MaxDelay = 100 * time.Millisecond
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, time.Minute); err != nil {
		return fmt.Errorf("dynamosuppression: table %s did not become active: %w", table, err)
	}
	return nil
}
