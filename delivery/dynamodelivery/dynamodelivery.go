// Package dynamodelivery implements the [delivery.Store] port on a
// DynamoDB table with aws-sdk-go-v2.
//
// The table has the partition key "mailId" (string) and TTL on
// "expiresAt". One item per mail, attributes: version (N), expiresAt (N,
// Unix seconds, rounded up so a record never expires earlier than asked),
// updatedAt and stateAt (N, Unix milliseconds), state and sesMessageId (S,
// absent when empty), and recipients and history (S, JSON).
//
// Recipients and history are JSON strings, not lists of maps: the adapter
// never reads or filters on their parts server-side (the rules are
// delivery.Merge, in Go), a JSON string carries no per-value type tags, so
// the item stays smaller, and its encoding is one small Go struct rather
// than an attribute-value mapping to keep in step. Bounded by MaxHistory
// (32 events) and workflow.MaxRecipients (50), an item at those bounds
// with 1 KB diagnostic codes is about 107 KB (TestItemSize), under
// DynamoDB's 400 KB; SES does not bound a diagnostic code, so a record
// over 350 KB is refused with an error naming the mail and its size
// rather than DynamoDB's.
//
// The dead-letter index (delivery.DeadLetterIndex) is the sparse global
// secondary index [DeadLetterIndexName]: an item carries its key
// attributes, deadLetterShard (S, the constant "dead-lettered") and
// deadLetterKey (S, delivery.DeadLetterKey), and the entry as deadLetter
// (S, JSON), only while it has an entry, so the index holds nothing else.
// One constant partition keeps a listing one ordered Query; dead letters
// are rare, far below a partition's write limits. The index projects the
// whole item, so a page is read without a GetItem per mail; it is
// eventually consistent, so an entry just written or forgotten may take a
// moment to show.
//
// Apply is delivery.ApplyWith: a consistent GetItem, delivery.Merge, and a
// PutItem conditional on the version read (attribute_not_exists for a new
// record), retried on a lost race. An expired item (TTL deletion is lazy)
// is read and replaced like any other, on its version.
package dynamodelivery

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mailflow/mailflow/delivery"
	"github.com/mailflow/mailflow/workflow"
)

// API is the part of the DynamoDB client the adapter uses.
type API interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Store is the DynamoDB delivery table.
type Store struct {
	api   API
	table string
}

var (
	_ delivery.Store           = (*Store)(nil)
	_ delivery.DeadLetterIndex = (*Store)(nil)
)

// The dead-letter index: its name, its key attributes and the one value
// of its partition key.
const (
	DeadLetterIndexName  = "deadLettered"
	AttrDeadLetterShard  = "deadLetterShard"
	AttrDeadLetterKey    = "deadLetterKey"
	deadLetterShardValue = string(workflow.EventDeadLettered)
)

// New returns the adapter for the named table.
func New(api API, table string) (*Store, error) {
	if api == nil {
		return nil, errors.New("dynamodelivery: nil client")
	}
	if table == "" {
		return nil, errors.New("dynamodelivery: empty table name")
	}
	return &Store{api: api, table: table}, nil
}

const (
	attrMailID     = "mailId"
	attrVersion    = "version"
	attrExpiresAt  = "expiresAt"
	attrUpdatedAt  = "updatedAt"
	attrState      = "state"
	attrStateAt    = "stateAt"
	attrSESID      = "sesMessageId"
	attrRecipients = "recipients"
	attrHistory    = "history"
	attrDeadLetter = "deadLetter"
)

// Apply implements [delivery.Store].
func (s *Store) Apply(ctx context.Context, p delivery.ApplyParams) (delivery.Mail, []delivery.Event, error) {
	return delivery.ApplyWith(ctx, p, s.read, s.write)
}

// Get implements [delivery.Store].
func (s *Store) Get(ctx context.Context, mailID string, now time.Time) (delivery.Mail, bool, error) {
	m, err := s.read(ctx, mailID)
	if err != nil || m == nil || !now.Before(m.ExpiresAt) {
		return delivery.Mail{}, false, err
	}
	return *m, true, nil
}

// DeadLettered implements [delivery.DeadLetterIndex] with Queries of the
// index, reading on past expired items (TTL deletion is lazy) until the
// page is full and one more live item shows that more follow.
func (s *Store) DeadLettered(ctx context.Context, p delivery.DeadLetterPageParams) ([]delivery.Mail, string, error) {
	if err := p.Validate(); err != nil {
		return nil, "", err
	}
	in := &dynamodb.QueryInput{
		TableName: aws.String(s.table), IndexName: aws.String(DeadLetterIndexName),
		KeyConditionExpression:   aws.String("#s = :s AND #k > :after"),
		ExpressionAttributeNames: map[string]string{"#s": AttrDeadLetterShard, "#k": AttrDeadLetterKey},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":s": str(deadLetterShardValue), ":after": str(p.After),
		},
		Limit: aws.Int32(int32(p.Limit + 1)),
	}
	if p.After == "" {
		// Every key starts with a digit of the year: "0" sorts before all.
		in.ExpressionAttributeValues[":after"] = str("0")
		in.KeyConditionExpression = aws.String("#s = :s AND #k >= :after")
	}
	var out []delivery.Mail
	for {
		res, err := s.api.Query(ctx, in)
		if err != nil {
			return nil, "", fmt.Errorf("dynamodelivery: query %s: %w", DeadLetterIndexName, err)
		}
		for _, item := range res.Items {
			m, err := decode(item)
			if err != nil {
				return nil, "", fmt.Errorf("dynamodelivery: index item: %w", err)
			}
			if m.DeadLetter == nil || !p.Now.Before(m.ExpiresAt) {
				continue
			}
			out = append(out, m)
			if len(out) > p.Limit {
				out = out[:p.Limit]
				last := out[len(out)-1]
				return out, last.DeadLetter.Key(last.MailID), nil
			}
		}
		if len(res.LastEvaluatedKey) == 0 {
			return out, "", nil
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
}

// ForgetDeadLetter implements [delivery.DeadLetterIndex]: the item is
// written again without its index attributes, on its version.
func (s *Store) ForgetDeadLetter(ctx context.Context, mailID string, now time.Time) (bool, error) {
	return delivery.ForgetWith(ctx, mailID, now, s.read, s.write)
}

func (s *Store) read(ctx context.Context, mailID string) (*delivery.Mail, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{attrMailID: str(mailID)},
	})
	if err != nil {
		return nil, fmt.Errorf("dynamodelivery: get %q: %w", mailID, err)
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	m, err := decode(out.Item)
	if err != nil {
		return nil, fmt.Errorf("dynamodelivery: item %q: %w", mailID, err)
	}
	return &m, nil
}

func (s *Store) write(ctx context.Context, m delivery.Mail, readVersion int64) error {
	item, err := encode(m)
	if err != nil {
		return err
	}
	if n := itemSize(item); n > maxItemBytes {
		return fmt.Errorf("dynamodelivery: put %q: the record is %d bytes, more than the %d this adapter writes (DynamoDB's limit is 400 KB): its events carry unusually long details", m.MailID, n, maxItemBytes)
	}
	in := &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item,
		ExpressionAttributeNames: map[string]string{"#k": attrMailID}}
	if readVersion == 0 {
		in.ConditionExpression = aws.String("attribute_not_exists(#k)")
	} else {
		in.ConditionExpression = aws.String("#v = :v")
		in.ExpressionAttributeNames = map[string]string{"#v": attrVersion}
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":v": num(readVersion)}
	}
	_, err = s.api.PutItem(ctx, in)
	var ccf *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &ccf):
		return delivery.ErrVersionConflict
	case err != nil:
		return fmt.Errorf("dynamodelivery: put %q: %w", m.MailID, err)
	}
	return nil
}

// maxItemBytes is the largest item written, with room under DynamoDB's
// 400 KB for its own accounting. A record of MaxHistory events and
// workflow.MaxRecipients recipients, each with a 1 KB diagnostic code, is
// about 100 KB (TestItemSize); only details far longer than SMTP replies
// run reach this.
const maxItemBytes = 350_000

// itemSize is the item's size as DynamoDB counts it for its limit: the
// attribute names and the string and number values (numbers counted as
// their decimal text, an upper bound).
func itemSize(item map[string]types.AttributeValue) int {
	n := 0
	for name, v := range item {
		n += len(name)
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			n += len(v.Value)
		case *types.AttributeValueMemberN:
			n += len(v.Value)
		}
	}
	return n
}

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func num(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

// secondsCeil is t in Unix seconds, rounded up.
func secondsCeil(t time.Time) int64 {
	sec := t.Unix()
	if t.Nanosecond() != 0 {
		sec++
	}
	return sec
}

func msOf(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func timeOf(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func encode(m delivery.Mail) (map[string]types.AttributeValue, error) {
	rj, hj, err := delivery.EncodeLists(m)
	if err != nil {
		return nil, fmt.Errorf("dynamodelivery: %w", err)
	}
	item := map[string]types.AttributeValue{
		attrMailID:     str(m.MailID),
		attrVersion:    num(m.Version),
		attrExpiresAt:  num(secondsCeil(m.ExpiresAt)),
		attrUpdatedAt:  num(msOf(m.UpdatedAt)),
		attrRecipients: str(string(rj)),
		attrHistory:    str(string(hj)),
	}
	if m.State != "" {
		item[attrState] = str(string(m.State))
		item[attrStateAt] = num(msOf(m.StateAt))
	}
	if m.SESMessageID != "" {
		item[attrSESID] = str(m.SESMessageID)
	}
	if m.DeadLetter != nil {
		dj, err := delivery.EncodeDeadLetter(m)
		if err != nil {
			return nil, fmt.Errorf("dynamodelivery: %w", err)
		}
		item[attrDeadLetter] = str(string(dj))
		item[AttrDeadLetterShard] = str(deadLetterShardValue)
		item[AttrDeadLetterKey] = str(m.DeadLetter.Key(m.MailID))
	}
	return item, nil
}

func decode(item map[string]types.AttributeValue) (delivery.Mail, error) {
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
	nv := func(name string) int64 {
		switch v := item[name].(type) {
		case nil:
		case *types.AttributeValueMemberN:
			i, err := strconv.ParseInt(v.Value, 10, 64)
			if err != nil {
				problems = append(problems, fmt.Errorf("attribute %s = %q is not an integer", name, v.Value))
			}
			return i
		default:
			problems = append(problems, fmt.Errorf("attribute %s is a %T, not a number", name, v))
		}
		return 0
	}
	m := delivery.Mail{
		MailID:       sv(attrMailID),
		SESMessageID: sv(attrSESID),
		State:        workflow.OutcomeEventType(sv(attrState)),
		StateAt:      timeOf(nv(attrStateAt)),
		Version:      nv(attrVersion),
		UpdatedAt:    timeOf(nv(attrUpdatedAt)),
		ExpiresAt:    time.Unix(nv(attrExpiresAt), 0).UTC(),
	}
	if err := delivery.DecodeLists(&m, []byte(sv(attrRecipients)), []byte(sv(attrHistory))); err != nil {
		problems = append(problems, fmt.Errorf("attribute %w", err))
	}
	if err := delivery.DecodeDeadLetter(&m, []byte(sv(attrDeadLetter))); err != nil {
		problems = append(problems, fmt.Errorf("attribute %w", err))
	}
	if m.MailID == "" || m.Version < 1 {
		problems = append(problems, fmt.Errorf("no mailId or version (%q, %d)", m.MailID, m.Version))
	}
	return m, errors.Join(problems...)
}

// CreateTable creates a delivery table with on-demand billing and waits
// until it is active. Deployments create the table with the CDK app (which
// also turns on TTL on expiresAt); this is for tests and local setups.
func CreateTable(ctx context.Context, client *dynamodb.Client, table string) error {
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(table),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(attrMailID), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(AttrDeadLetterShard), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(AttrDeadLetterKey), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema:   []types.KeySchemaElement{{AttributeName: aws.String(attrMailID), KeyType: types.KeyTypeHash}},
		BillingMode: types.BillingModePayPerRequest,
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName: aws.String(DeadLetterIndexName),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(AttrDeadLetterShard), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(AttrDeadLetterKey), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}},
	})
	if err != nil {
		return fmt.Errorf("dynamodelivery: create table %s: %w", table, err)
	}
	w := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = 10 * time.Millisecond
		o.MaxDelay = 100 * time.Millisecond
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, time.Minute); err != nil {
		return fmt.Errorf("dynamodelivery: table %s did not become active: %w", table, err)
	}
	return nil
}
