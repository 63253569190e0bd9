package workflow

// Record is one SQS message as EventBridge Pipes hands it to a Step Functions
// target. It mirrors aws-lambda-go's events.SQSMessage but carries exactly the
// fields Pipes sends (no md5OfMessageAttributes).
type Record struct {
	MessageID         string                      `json:"messageId"`
	ReceiptHandle     string                      `json:"receiptHandle"`
	Body              string                      `json:"body"`
	Attributes        map[string]string           `json:"attributes"`
	MessageAttributes map[string]MessageAttribute `json:"messageAttributes"`
	MD5OfBody         string                      `json:"md5OfBody"`
	EventSource       string                      `json:"eventSource"`
	EventSourceARN    string                      `json:"eventSourceARN"`
	AWSRegion         string                      `json:"awsRegion"`
}

// MessageAttribute is an SQS message attribute in the Pipes record shape.
type MessageAttribute struct {
	StringValue      *string  `json:"stringValue,omitempty"`
	BinaryValue      []byte   `json:"binaryValue,omitempty"`
	StringListValues []string `json:"stringListValues"`
	BinaryListValues [][]byte `json:"binaryListValues"`
	DataType         string   `json:"dataType"`
}

// Batch is the input of one state-machine execution: always an array, even
// for a single record.
type Batch []Record

// Names of the SQS system attributes a record carries.
const (
	AttrApproximateReceiveCount          = "ApproximateReceiveCount"
	AttrSentTimestamp                    = "SentTimestamp"
	AttrSenderID                         = "SenderId"
	AttrApproximateFirstReceiveTimestamp = "ApproximateFirstReceiveTimestamp"
	AttrAWSTraceHeader                   = "AWSTraceHeader"
)

// EventSourceSQS is the eventSource of every record from an SQS source.
const EventSourceSQS = "aws:sqs"

// BatchResult is the state machine's output and the pipe's partial-failure
// answer: only the listed messages return to the queue.
type BatchResult struct {
	BatchItemFailures []BatchItemFailure `json:"batchItemFailures"`
}

// BatchItemFailure names one record, by its messageId, to be redelivered.
type BatchItemFailure struct {
	ItemIdentifier string `json:"itemIdentifier"`
}

// Failed lists the message ids in the result.
func (r BatchResult) Failed() []string {
	ids := make([]string, len(r.BatchItemFailures))
	for i, f := range r.BatchItemFailures {
		ids[i] = f.ItemIdentifier
	}
	return ids
}

// DLQ message attributes the state machine sets on a dead-lettered record,
// so the reason travels with it. The message body stays the original body,
// so a redrive puts back exactly what the producer sent.
const (
	// DLQAttrError is the error name, e.g. Mail.InvalidMessage.
	DLQAttrError = "mailflow.error"
	// DLQAttrFailure is the caught error as JSON, {"Error": ..., "Cause": ...};
	// Step Functions may leave Cause out, so the cause travels inside it.
	DLQAttrFailure = "mailflow.failure"
	// DLQAttrMessageID is the source queue's message id of the record.
	DLQAttrMessageID = "mailflow.sourceMessageId"
	// DLQAttrExecutionID is the execution that dead-lettered the record.
	DLQAttrExecutionID = "mailflow.executionId"
	// DLQAttrReason is why the delivery-feedback consumer could not read a
	// record of the events queue (an unreadable record has no Mail.* error
	// name, so it is not DLQAttrError).
	DLQAttrReason = "mailflow.reason"
)
