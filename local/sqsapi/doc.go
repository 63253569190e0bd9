// Package sqsapi serves a sqsstore.Store over HTTP as an Amazon SQS endpoint,
// in both protocols SQS clients speak:
//
//   - JSON (current SDKs, aws-sdk-go-v2 included): POST with
//     "X-Amz-Target: AmazonSQS.<Operation>" and an application/x-amz-json-1.0
//     body; errors are {"__type":"com.amazonaws.sqs#<Code>","message":...}
//     with the query-compatible code in the x-amzn-query-error header
//     ("AWS.SimpleQueueService.NonExistentQueue;Sender").
//   - Query (older SDKs and CLIs): form-encoded "Action=<Operation>" (POST
//     body or GET query), answered with XML in the
//     http://queue.amazonaws.com/doc/2012-11-05/ namespace, errors as
//     <ErrorResponse>.
//
// Who uses it: `mailflow dev` mounts a Handler (behind gateway.Router) so
// that SDK clients reach it with AWS_ENDPOINT_URL=http://127.0.0.1:<port>;
// tests run the sqstest conformance suite through it with the SDK client.
//
// Operations: CreateQueue, GetQueueUrl, ListQueues, GetQueueAttributes,
// SetQueueAttributes, DeleteQueue, PurgeQueue, SendMessage(Batch),
// ReceiveMessage, DeleteMessage(Batch), ChangeMessageVisibility(Batch),
// StartMessageMoveTask, ListMessageMoveTasks, CancelMessageMoveTask,
// ListDeadLetterSourceQueues, TagQueue, UntagQueue, ListQueueTags. Others
// are UnknownOperationException (JSON) or InvalidAction (query).
//
// Decisions: queue URLs are http://<Host of the request>/<account>/<name>
// (or Options.BaseURL), so whatever loopback address a client used works in
// the URLs it gets back; a queue URL is resolved by its path alone. The
// handler authenticates nothing: gateway.Router, the only thing that serves
// it on a socket, checks the Host, refuses cross-site browser requests and
// verifies SigV4 signatures before a request gets here. The access key id
// of the SigV4 credential becomes the SenderId. A query-protocol request
// that is not a POST may only read (GetQueueUrl, GetQueueAttributes,
// ListQueues, ListQueueTags, ListDeadLetterSourceQueues,
// ListMessageMoveTasks); any other action by GET, which AWS takes, is
// UnsupportedOperation (405) here, so a link or an image on a web page can
// change nothing. The JSON protocol takes POST only. MD5OfMessageAttributes covers
// the attributes actually returned, as AWS computes it. FIFO queues are not
// supported (see sqsstore). Message bodies and String attribute values
// take SQS's character set (#x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD |
// #x10000-#x10FFFF): JSON strings are decoded without encoding/json's repair
// of invalid UTF-8 and lone surrogate escapes to U+FFFD, so that a real
// U+FFFD is taken and only what is invalid is refused, in both protocols
// alike (InvalidMessageContents for a body, InvalidParameterValue for an
// attribute). The handler does not listen by itself: callers
// bind it, on loopback by default.
package sqsapi
