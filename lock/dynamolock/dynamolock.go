// Package dynamolock implements the [lock.Table] port on a DynamoDB table
// with aws-sdk-go-v2.
//
// The table has the partition key "mailId" (string) and TTL on "expiresAt".
// Item attributes: status (S), owner (S), contentHash (S), leaseUntil (N,
// Unix milliseconds), sesMessageId (S), sentAt (N, Unix milliseconds) and
// expiresAt (N, Unix seconds, as DynamoDB TTL requires), and attemptedAt
// (N, Unix milliseconds) while a send attempt's answer is not recorded.
//
// Every write is one conditional request; conditions compare the times the
// caller passes, never the server's clock, and treat an item whose expiresAt
// has passed as absent because TTL deletion is lazy (typically within 48
// hours). ExpiresAt is rounded up to the next whole second so a record never
// expires earlier than asked. On a failed condition the current item comes
// from ReturnValuesOnConditionCheckFailure=ALL_OLD; a backend that does not
// return it (older emulators) is read once with a consistent GetItem.
// The adapter never retries; the SDK's own retryer handles throttling.
package dynamolock

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mailflow/mailflow/lock"
)

// API is the part of the DynamoDB client the adapter uses.
type API interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

// Table is the DynamoDB lock table.
type Table struct {
	api   API
	table string
}

var _ lock.Table = (*Table)(nil)

// New returns the adapter for the named table.
func New(api API, table string) (*Table, error) {
	if api == nil {
		return nil, errors.New("dynamolock: nil client")
	}
	if table == "" {
		return nil, errors.New("dynamolock: empty table name")
	}
	return &Table{api: api, table: table}, nil
}

const (
	attrMailID      = "mailId"
	attrStatus      = "status"
	attrOwner       = "owner"
	attrLeaseUntil  = "leaseUntil"
	attrContentHash = "contentHash"
	attrSESID       = "sesMessageId"
	attrSentAt      = "sentAt"
	attrExpiresAt   = "expiresAt"
	attrRenewals    = "renewals"
	attrAttemptedAt = "attemptedAt"
)

// names maps expression placeholders to attribute names (status and owner
// are DynamoDB reserved words).
var names = map[string]string{
	"#id": attrMailID, "#st": attrStatus, "#ow": attrOwner, "#lu": attrLeaseUntil,
	"#ch": attrContentHash, "#ses": attrSESID, "#sa": attrSentAt, "#ex": attrExpiresAt,
	"#rn": attrRenewals, "#at": attrAttemptedAt,
}

func namesFor(keys ...string) map[string]string {
	m := make(map[string]string, len(keys))
	for _, k := range keys {
		m[k] = names[k]
	}
	return m
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}
func ms(t time.Time) types.AttributeValue { return n(t.UnixMilli()) }

// secondsCeil is t in Unix seconds, rounded up.
func secondsCeil(t time.Time) int64 {
	sec := t.Unix()
	if t.Nanosecond() != 0 {
		sec++
	}
	return sec
}

func key(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrMailID: s(id)}
}

// Acquire implements [lock.Table].
func (t *Table) Acquire(ctx context.Context, p lock.AcquireParams) (lock.Record, error) {
	if err := p.Validate(); err != nil {
		return lock.Record{}, err
	}
	return t.putSending(ctx, "acquire", lock.AttemptParams{MailID: p.MailID, Owner: p.Owner, Now: p.Now,
		LeaseUntil: p.LeaseUntil, ExpiresAt: p.ExpiresAt, ContentHash: p.ContentHash}, false)
}

// putSending writes a new SENDING record for p.Owner, in one conditional
// put, where no live record stands or a SENDING one of the same content
// with no attempt may be replaced. Acquire (attempt false) may replace one
// whose lease ran out or that p.Owner holds (lock.AcquireAllowed); an
// acquiring attempt (attempt true) one of another owner whose lease ran
// out (lock.AttemptTakesOver), and sets the attempt and Renewals at 1.
func (t *Table) putSending(ctx context.Context, op string, p lock.AttemptParams, attempt bool) (lock.Record, error) {
	item := map[string]types.AttributeValue{
		attrMailID:      s(p.MailID),
		attrStatus:      s(string(lock.Sending)),
		attrOwner:       s(p.Owner),
		attrContentHash: s(p.ContentHash),
		attrLeaseUntil:  ms(p.LeaseUntil),
		attrExpiresAt:   n(secondsCeil(p.ExpiresAt)),
	}
	replaceable := "(#lu <= :nowMs OR #ow = :owner)"
	if attempt {
		item[attrAttemptedAt], item[attrRenewals] = ms(p.Now), n(1)
		replaceable = "#lu <= :nowMs AND #ow <> :owner"
	}
	_, err := t.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(t.table),
		Item:      item,
		ConditionExpression: aws.String("attribute_not_exists(#id) OR #ex <= :nowS OR " +
			"(#st = :sending AND attribute_not_exists(#at) AND #ch = :hash AND " + replaceable + ")"),
		ExpressionAttributeNames: namesFor("#id", "#ex", "#st", "#ch", "#lu", "#ow", "#at"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":nowS": n(p.Now.Unix()), ":nowMs": ms(p.Now), ":sending": s(string(lock.Sending)),
			":hash": s(p.ContentHash), ":owner": s(p.Owner),
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err != nil {
		return lock.Record{}, t.fail(ctx, op, p.MailID, err)
	}
	return decode(item)
}

// Renew implements [lock.Table].
func (t *Table) Renew(ctx context.Context, p lock.RenewParams) (lock.Record, error) {
	if err := p.Validate(); err != nil {
		return lock.Record{}, err
	}
	out, err := t.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(t.table),
		Key:                      key(p.MailID),
		UpdateExpression:         aws.String("SET #lu = :lease, #ex = :exp ADD #rn :one"),
		ConditionExpression:      aws.String("#ow = :owner AND #st = :sending AND attribute_not_exists(#at)"),
		ExpressionAttributeNames: namesFor("#lu", "#ex", "#ow", "#st", "#rn", "#at"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":lease": ms(p.LeaseUntil), ":exp": n(secondsCeil(p.ExpiresAt)),
			":owner": s(p.Owner), ":sending": s(string(lock.Sending)), ":one": n(1),
		},
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err != nil {
		return lock.Record{}, t.fail(ctx, "renew", p.MailID, err)
	}
	return decode(out.Attributes)
}

// MarkSent implements [lock.Table].
func (t *Table) MarkSent(ctx context.Context, p lock.MarkSentParams) (lock.Record, error) {
	if err := p.Validate(); err != nil {
		return lock.Record{}, err
	}
	out, err := t.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(t.table),
		Key:                      key(p.MailID),
		UpdateExpression:         aws.String("SET #st = :sent, #ses = :id, #sa = if_not_exists(#sa, :now), #ex = :exp"),
		ConditionExpression:      aws.String("#ow = :owner AND (#st = :sending OR (#st = :sent AND #ses = :id))"),
		ExpressionAttributeNames: namesFor("#st", "#ses", "#sa", "#ex", "#ow"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":sent": s(string(lock.Sent)), ":sending": s(string(lock.Sending)), ":id": s(p.SESMessageID),
			":now": ms(p.Now), ":exp": n(secondsCeil(p.ExpiresAt)), ":owner": s(p.Owner),
		},
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err != nil {
		return lock.Record{}, t.fail(ctx, "mark-sent", p.MailID, err)
	}
	return decode(out.Attributes)
}

// ResolveSent implements [lock.Table]. The write covers the one case that
// changes the record (a live SENDING item with an attempt); the no-op case
// (already SENT with the same SES id) is recognised from the item the
// failed condition returns, so it writes nothing and costs no extra read.
// Which case holds is judged on that item with lock.ResolveSentAllowed.
func (t *Table) ResolveSent(ctx context.Context, p lock.ResolveParams) (lock.Record, error) {
	if err := p.Validate(); err != nil {
		return lock.Record{}, err
	}
	out, err := t.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(t.table),
		Key:                      key(p.MailID),
		UpdateExpression:         aws.String("SET #st = :sent, #ses = :id, #sa = :now, #ex = :exp"),
		ConditionExpression:      aws.String("#st = :sending AND attribute_exists(#at) AND #ex > :nowS"),
		ExpressionAttributeNames: namesFor("#st", "#ses", "#sa", "#ex", "#at"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":sent": s(string(lock.Sent)), ":sending": s(string(lock.Sending)), ":id": s(p.SESMessageID),
			":now": ms(p.Now), ":exp": n(secondsCeil(p.ExpiresAt)), ":nowS": n(p.Now.Unix()),
		},
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		return decode(out.Attributes)
	}
	err = t.fail(ctx, "resolve-sent", p.MailID, err)
	// Only a SENT item can be the no-op: a SENDING one that the rule allows
	// can only come from the fallback read, after the item changed.
	if ce := lock.AsCondition(err); ce != nil && ce.Current != nil && ce.Current.Status == lock.Sent && lock.ResolveSentAllowed(ce.Current, p) {
		return *ce.Current, nil
	}
	return lock.Record{}, err
}

// Release implements [lock.Table].
func (t *Table) Release(ctx context.Context, p lock.ReleaseParams) error {
	if err := p.Validate(); err != nil {
		return err
	}
	_, err := t.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                           aws.String(t.table),
		Key:                                 key(p.MailID),
		ConditionExpression:                 aws.String("#ow = :owner AND #st = :sending AND attribute_not_exists(#at)"),
		ExpressionAttributeNames:            namesFor("#ow", "#st", "#at"),
		ExpressionAttributeValues:           map[string]types.AttributeValue{":owner": s(p.Owner), ":sending": s(string(lock.Sending))},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err != nil {
		return t.fail(ctx, "release", p.MailID, err)
	}
	return nil
}

// StartAttempt implements [lock.Table].
func (t *Table) StartAttempt(ctx context.Context, p lock.AttemptParams) (lock.Record, error) {
	if err := p.Validate(); err != nil {
		return lock.Record{}, err
	}
	if p.Acquires() {
		// The common case is one put (lock.AttemptTakesOver); the owner's
		// own record is updated instead, below, so that its renewals
		// count on.
		rec, err := t.putSending(ctx, "start-attempt", p, true)
		if ce := lock.AsCondition(err); ce == nil || !lock.AttemptUpdatesOwn(ce.Current, p) {
			return rec, err
		}
	}
	update, names := "SET #at = :now", namesFor("#at", "#ow", "#st")
	values := map[string]types.AttributeValue{
		":now": ms(p.Now), ":owner": s(p.Owner), ":sending": s(string(lock.Sending)),
	}
	if p.RenewsLease() {
		// One write renews the lease and marks the attempt.
		update, names = "SET #at = :now, #lu = :lease, #ex = :exp ADD #rn :one", namesFor("#at", "#ow", "#st", "#lu", "#ex", "#rn")
		values[":lease"], values[":exp"], values[":one"] = ms(p.LeaseUntil), n(secondsCeil(p.ExpiresAt)), n(1)
	}
	cond := "#ow = :owner AND #st = :sending AND attribute_not_exists(#at)"
	if p.Acquires() {
		cond += " AND #ch = :hash"
		names["#ch"], values[":hash"] = attrContentHash, s(p.ContentHash)
	}
	out, err := t.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           aws.String(t.table),
		Key:                                 key(p.MailID),
		UpdateExpression:                    aws.String(update),
		ConditionExpression:                 aws.String(cond),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err != nil {
		return lock.Record{}, t.fail(ctx, "start-attempt", p.MailID, err)
	}
	return decode(out.Attributes)
}

// ClearAttempt implements [lock.Table].
func (t *Table) ClearAttempt(ctx context.Context, p lock.ClearAttemptParams) (lock.Record, error) {
	if err := p.Validate(); err != nil {
		return lock.Record{}, err
	}
	out, err := t.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(t.table),
		Key:                      key(p.MailID),
		UpdateExpression:         aws.String("REMOVE #at"),
		ConditionExpression:      aws.String("#ow = :owner AND #st = :sending AND #at = :at"),
		ExpressionAttributeNames: namesFor("#at", "#ow", "#st"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":at": ms(p.AttemptedAt), ":owner": s(p.Owner), ":sending": s(string(lock.Sending)),
		},
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err != nil {
		return lock.Record{}, t.fail(ctx, "clear-attempt", p.MailID, err)
	}
	return decode(out.Attributes)
}

// Forget implements [lock.Table].
func (t *Table) Forget(ctx context.Context, p lock.ForgetParams) error {
	if err := p.Validate(); err != nil {
		return err
	}
	_, err := t.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                aws.String(t.table),
		Key:                      key(p.MailID),
		ConditionExpression:      aws.String("#st = :sending AND #at = :at"),
		ExpressionAttributeNames: namesFor("#st", "#at"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":sending": s(string(lock.Sending)), ":at": ms(p.AttemptedAt),
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err != nil {
		return t.fail(ctx, "forget", p.MailID, err)
	}
	return nil
}

// Get implements [lock.Table] with a consistent read.
func (t *Table) Get(ctx context.Context, mailID string) (lock.Record, bool, error) {
	return t.read(ctx, "get", mailID, true)
}

// Peek implements [lock.Table] with an eventually consistent read.
func (t *Table) Peek(ctx context.Context, mailID string) (lock.Record, bool, error) {
	return t.read(ctx, "peek", mailID, false)
}

func (t *Table) read(ctx context.Context, op, mailID string, consistent bool) (lock.Record, bool, error) {
	out, err := t.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(t.table), Key: key(mailID), ConsistentRead: aws.Bool(consistent),
	})
	if err != nil {
		return lock.Record{}, false, fmt.Errorf("dynamolock: %s %q: %w", op, mailID, err)
	}
	if len(out.Item) == 0 {
		return lock.Record{}, false, nil
	}
	rec, err := decode(out.Item)
	return rec, err == nil, err
}

// fail turns a conditional-check failure into a *lock.ConditionError and
// wraps anything else.
func (t *Table) fail(ctx context.Context, op, mailID string, err error) error {
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		return fmt.Errorf("dynamolock: %s %q: %w", op, mailID, err)
	}
	ce := &lock.ConditionError{Op: op, MailID: mailID}
	item := ccf.Item
	if len(item) == 0 {
		rec, ok, gerr := t.Get(ctx, mailID)
		if gerr != nil {
			return fmt.Errorf("dynamolock: %s %q: condition failed, and reading the item: %w", op, mailID, gerr)
		}
		if ok {
			ce.Current = &rec
		}
		return ce
	}
	rec, derr := decode(item)
	if derr != nil {
		return derr
	}
	ce.Current = &rec
	return ce
}

func decode(item map[string]types.AttributeValue) (lock.Record, error) {
	var r lock.Record
	var err error
	str := func(name string) string {
		if v, ok := item[name].(*types.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	num := func(name string) int64 {
		v, ok := item[name].(*types.AttributeValueMemberN)
		if !ok {
			return 0
		}
		i, perr := strconv.ParseInt(v.Value, 10, 64)
		if perr != nil && err == nil {
			err = fmt.Errorf("dynamolock: attribute %s = %q is not an integer", name, v.Value)
		}
		return i
	}
	r.MailID = str(attrMailID)
	r.Status = lock.Status(str(attrStatus))
	r.Owner = str(attrOwner)
	r.ContentHash = str(attrContentHash)
	r.SESMessageID = str(attrSESID)
	r.LeaseUntil = time.UnixMilli(num(attrLeaseUntil)).UTC()
	if _, ok := item[attrSentAt]; ok {
		r.SentAt = time.UnixMilli(num(attrSentAt)).UTC()
	}
	r.ExpiresAt = time.Unix(num(attrExpiresAt), 0).UTC()
	r.Renewals = int(num(attrRenewals)) // absent until the first Renew
	if _, ok := item[attrAttemptedAt]; ok {
		r.AttemptedAt = time.UnixMilli(num(attrAttemptedAt)).UTC()
	}
	if err == nil && (r.MailID == "" || (r.Status != lock.Sending && r.Status != lock.Sent)) {
		err = fmt.Errorf("dynamolock: malformed item for %q (status %q)", r.MailID, r.Status)
	}
	return r, err
}

// CreateTable creates a lock table with on-demand billing and waits until it
// is active. Deployments create the table with the CDK app (which also turns
// on TTL and point-in-time recovery); this is for tests and local setups.
func CreateTable(ctx context.Context, client *dynamodb.Client, table string) error {
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(attrMailID), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(attrMailID), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	if err != nil {
		return fmt.Errorf("dynamolock: create table %s: %w", table, err)
	}
	w := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = 10 * time.Millisecond
		o.MaxDelay = 100 * time.Millisecond
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, time.Minute); err != nil {
		return fmt.Errorf("dynamolock: table %s did not become active: %w", table, err)
	}
	return nil
}
