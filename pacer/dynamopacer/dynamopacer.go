// Package dynamopacer is the pacer.Bucket for AWS: the bucket is one
// DynamoDB item, shared by every Send Lambda instance, updated with one
// conditional write per take.
//
// The item lives in any table with a string partition key; by default the
// lock table (key attribute "mailId") under the key "#pacer/ses", which no
// mailId can collide with ('#' is outside the mailId alphabet), so the send
// role needs no table of its own: it already may UpdateItem and GetItem on
// the lock table. The item has one attribute besides its key, "tat" (N,
// the bucket's theoretical arrival time in Unix nanoseconds, see
// pacer.GCRA), and no expiresAt, so TTL never removes it.
//
// A take is one of two conditional updates:
//   - busy bucket (tat ≥ now): SET tat = tat + :cost IF tat BETWEEN :now
//     AND :limit, where limit is the latest tat that still leaves the
//     tokens available (within the reservation). DynamoDB serialises these
//     on the item, so concurrent takes never conflict, never over-grant and
//     need no read.
//   - idle bucket (tat < now, or no item yet): SET tat = :now + :cost IF
//     attribute_not_exists(tat) OR tat < :now.
//
// The adapter tries the form its last answer suggests; when the condition
// fails it learns the current tat from ReturnValuesOnConditionCheckFailure
// (or one consistent GetItem on backends that do not return it) and either
// refuses (the tokens are not there: nothing is written) or tries the other
// form. Up to five rounds; more means extreme contention and is an error
// the caller treats as transient. Times are the caller's clock: Lambda
// clocks are NTP-synchronised, and a skew only shifts the pacing by as
// much.
package dynamopacer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mailflow/mailflow/pacer"
)

// API is the part of the DynamoDB client the adapter uses.
type API interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// Defaults: the item in the lock table.
const (
	DefaultKeyAttribute = "mailId"
	DefaultKey          = "#pacer/ses"
	attrTAT             = "tat"
	maxRounds           = 5
)

// Bucket is one pacer item.
type Bucket struct {
	api     API
	table   string
	key     map[string]types.AttributeValue
	lastTAT atomic.Int64 // the last tat seen, to pick the likely form first
}

var _ pacer.Bucket = (*Bucket)(nil)

// Options name the item; zero values take the defaults.
type Options struct {
	KeyAttribute string // the table's partition key attribute
	Key          string // the item's key
}

// New returns the bucket stored in table.
func New(api API, table string, o Options) (*Bucket, error) {
	if api == nil {
		return nil, errors.New("dynamopacer: nil client")
	}
	if table == "" {
		return nil, errors.New("dynamopacer: empty table name")
	}
	if o.KeyAttribute == "" {
		o.KeyAttribute = DefaultKeyAttribute
	}
	if o.Key == "" {
		o.Key = DefaultKey
	}
	return &Bucket{api: api, table: table, key: map[string]types.AttributeValue{o.KeyAttribute: &types.AttributeValueMemberS{Value: o.Key}}}, nil
}

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// Take implements pacer.Bucket.
func (b *Bucket) Take(ctx context.Context, p pacer.TakeParams) (pacer.TakeResult, error) {
	if err := p.Validate(); err != nil {
		return pacer.TakeResult{}, err
	}
	now := p.Now.UnixNano()
	cost, tau := pacer.Span(p)
	if cost-tau > int64(p.Reserve) {
		// More than the bucket holds and the reserve covers, even from
		// empty: refuse without a write (the idle form would grant it).
		return pacer.TakeResult{RetryAfter: time.Duration(cost - tau)}, nil
	}
	busy := b.lastTAT.Load() >= now
	for range maxRounds {
		var in *dynamodb.UpdateItemInput
		if busy {
			in = &dynamodb.UpdateItemInput{
				UpdateExpression:    aws.String("SET #t = #t + :cost"),
				ConditionExpression: aws.String("#t BETWEEN :now AND :limit"),
				ExpressionAttributeValues: map[string]types.AttributeValue{
					":cost": num(cost), ":now": num(now), ":limit": num(now + tau + int64(p.Reserve) - cost),
				},
			}
		} else {
			in = &dynamodb.UpdateItemInput{
				UpdateExpression:          aws.String("SET #t = :next"),
				ConditionExpression:       aws.String("attribute_not_exists(#t) OR #t < :now"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":next": num(now + cost), ":now": num(now)},
			}
		}
		in.TableName, in.Key = aws.String(b.table), b.key
		in.ExpressionAttributeNames = map[string]string{"#t": attrTAT}
		in.ReturnValues = types.ReturnValueUpdatedNew
		in.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
		out, err := b.api.UpdateItem(ctx, in)
		if err == nil {
			tat, err := tatOf(out.Attributes)
			if err != nil {
				return pacer.TakeResult{}, err
			}
			b.lastTAT.Store(tat)
			return pacer.TakeResult{OK: true, Wait: time.Duration(max(0, tat-tau-now))}, nil
		}
		var ccf *types.ConditionalCheckFailedException
		if !errors.As(err, &ccf) {
			return pacer.TakeResult{}, fmt.Errorf("dynamopacer: update %s: %w", b.table, err)
		}
		item := ccf.Item
		if item == nil {
			got, err := b.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(b.table), Key: b.key, ConsistentRead: aws.Bool(true)})
			if err != nil {
				return pacer.TakeResult{}, fmt.Errorf("dynamopacer: get %s: %w", b.table, err)
			}
			item = got.Item
		}
		if item[attrTAT] == nil {
			busy = false
			continue
		}
		tat, err := tatOf(item)
		if err != nil {
			return pacer.TakeResult{}, err
		}
		b.lastTAT.Store(tat)
		if tat < now {
			busy = false
			continue
		}
		if _, res := pacer.GCRA(tat, p); !res.OK {
			return res, nil // the tokens are not there yet; nothing written
		}
		busy = true // another take moved tat in between: try again
	}
	return pacer.TakeResult{}, fmt.Errorf("dynamopacer: no conditional write succeeded in %d rounds", maxRounds)
}

func tatOf(item map[string]types.AttributeValue) (int64, error) {
	n, ok := item[attrTAT].(*types.AttributeValueMemberN)
	if !ok {
		return 0, fmt.Errorf("dynamopacer: the item has no numeric %q", attrTAT)
	}
	tat, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("dynamopacer: %q = %q: %w", attrTAT, n.Value, err)
	}
	return tat, nil
}
