// Scenarios the AWS SDK for JavaScript v3 runs against the local SQS and S3
// endpoints. Usage: node scenarios.mjs <endpoint>; credentials come from
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. Each scenario prints one JSON
// line {"scenario", "error"} ("error" is "" when it passed); the Go test
// reads them and fails naming the scenario and the difference.
import { createHash } from "node:crypto";
import * as sqs from "@aws-sdk/client-sqs";
import * as s3 from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";

const endpoint = process.argv[2];
if (!endpoint || !/^http:\/\/127\.0\.0\.1:\d+$/.test(endpoint)) {
  console.error("usage: node scenarios.mjs http://127.0.0.1:<port>");
  process.exit(2);
}
const credentials = { accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY };
const common = { region: "us-east-1", endpoint, credentials, maxAttempts: 1 };
const q = new sqs.SQSClient(common);
const b = new s3.S3Client({ ...common, forcePathStyle: true });
const run = (cmd) => q.send(cmd);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const md5 = (buf) => createHash("md5").update(buf).digest("hex");

class Difference extends Error {}
function expect(cond, what) {
  if (!cond) throw new Difference(what);
}
function eq(got, want, what) {
  expect(JSON.stringify(got) === JSON.stringify(want), `${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}
async function expectError(promise, name, what) {
  try {
    await promise;
  } catch (e) {
    eq(e.name, name, `${what}: error name`);
    return e;
  }
  throw new Difference(`${what}: succeeded, want ${name}`);
}

let n = 0;
const unique = (p) => `${p}-${process.pid}-${++n}`;
async function createQueue(prefix, Attributes) {
  return (await run(new sqs.CreateQueueCommand({ QueueName: unique(prefix), Attributes }))).QueueUrl;
}
async function arnOf(QueueUrl) {
  return (await run(new sqs.GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["QueueArn"] }))).Attributes.QueueArn;
}
async function receive(QueueUrl, extra = {}) {
  return (await run(new sqs.ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, ...extra }))).Messages ?? [];
}
async function counts(QueueUrl) {
  const a = (await run(new sqs.GetQueueAttributesCommand({ QueueUrl,
    AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"] }))).Attributes;
  return [Number(a.ApproximateNumberOfMessages), Number(a.ApproximateNumberOfMessagesNotVisible)];
}

const scenarios = {
  async "sqs/queues"() {
    const name = unique("js-queues");
    const created = await run(new sqs.CreateQueueCommand({ QueueName: name,
      Attributes: { VisibilityTimeout: "45", DelaySeconds: "2" }, tags: { team: "mail" } }));
    expect(created.QueueUrl.endsWith(`/000000000000/${name}`), `CreateQueue URL ${created.QueueUrl}`);
    const url = (await run(new sqs.GetQueueUrlCommand({ QueueName: name }))).QueueUrl;
    eq(url, created.QueueUrl, "GetQueueUrl");
    const listed = await run(new sqs.ListQueuesCommand({ QueueNamePrefix: name }));
    eq(listed.QueueUrls, [url], "ListQueues by prefix");
    let attrs = (await run(new sqs.GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["All"] }))).Attributes;
    eq([attrs.VisibilityTimeout, attrs.DelaySeconds], ["45", "2"], "attributes set at creation");
    expect(attrs.QueueArn === `arn:aws:sqs:us-east-1:000000000000:${name}`, `QueueArn ${attrs.QueueArn}`);
    await run(new sqs.SetQueueAttributesCommand({ QueueUrl: url, Attributes: { VisibilityTimeout: "10" } }));
    attrs = (await run(new sqs.GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["VisibilityTimeout"] }))).Attributes;
    eq(attrs, { VisibilityTimeout: "10" }, "SetQueueAttributes then GetQueueAttributes");
    await run(new sqs.TagQueueCommand({ QueueUrl: url, Tags: { env: "dev" } }));
    await run(new sqs.UntagQueueCommand({ QueueUrl: url, TagKeys: ["team"] }));
    eq((await run(new sqs.ListQueueTagsCommand({ QueueUrl: url }))).Tags, { env: "dev" }, "tags after TagQueue and UntagQueue");
    for (let i = 0; i < 3; i++) await run(new sqs.CreateQueueCommand({ QueueName: `${name}-page${i}` }));
    const pages = [];
    let NextToken;
    do {
      const page = await run(new sqs.ListQueuesCommand({ QueueNamePrefix: `${name}-page`, MaxResults: 2, NextToken }));
      pages.push(page.QueueUrls.length);
      NextToken = page.NextToken;
    } while (NextToken && pages.length < 5);
    eq(pages, [2, 1], "ListQueues pages of 2");
    await run(new sqs.DeleteQueueCommand({ QueueUrl: url }));
    await expectError(run(new sqs.GetQueueUrlCommand({ QueueName: name })), "QueueDoesNotExist", "GetQueueUrl after DeleteQueue");
  },

  async "sqs/messages"() {
    const url = await createQueue("js-messages");
    const body = "héllo \uFFFD \u{1F600} \u{10FFFF}";
    const binary = Uint8Array.from([0, 1, 2, 250]);
    const sent = await run(new sqs.SendMessageCommand({ QueueUrl: url, MessageBody: body, MessageAttributes: {
      kind: { DataType: "String", StringValue: "welcome \uFFFD" },
      count: { DataType: "Number", StringValue: "42" },
      blob: { DataType: "Binary", BinaryValue: binary },
    } }));
    eq(sent.MD5OfMessageBody, md5(Buffer.from(body, "utf8")), "MD5OfMessageBody");
    expect(sent.MD5OfMessageAttributes?.length === 32, `MD5OfMessageAttributes ${sent.MD5OfMessageAttributes}`);
    const [m] = await receive(url, { MessageAttributeNames: ["All"], MessageSystemAttributeNames: ["All"] });
    expect(m, "the message was not received");
    eq(m.Body, body, "received body");
    eq(m.MessageId, sent.MessageId, "received MessageId");
    eq(m.MD5OfMessageAttributes, sent.MD5OfMessageAttributes, "received MD5OfMessageAttributes");
    eq(m.MessageAttributes.kind.StringValue, "welcome \uFFFD", "String attribute");
    eq(m.MessageAttributes.count, { DataType: "Number", StringValue: "42" }, "Number attribute");
    eq(Array.from(m.MessageAttributes.blob.BinaryValue), Array.from(binary), "Binary attribute");
    eq(m.Attributes.ApproximateReceiveCount, "1", "ApproximateReceiveCount");
    eq(m.Attributes.SenderId, credentials.accessKeyId, "SenderId");
    await run(new sqs.DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle }));
    eq(await counts(url), [0, 0], "counts after DeleteMessage");
    await expectError(run(new sqs.SendMessageCommand({ QueueUrl: url, MessageBody: "a\uFFFEb" })),
      "InvalidMessageContents", "a body with U+FFFE");
    // Timeouts of seconds leave room for a loaded machine between two calls.
    await run(new sqs.SendMessageCommand({ QueueUrl: url, MessageBody: "later", DelaySeconds: 3 }));
    eq((await receive(url)).length, 0, "a delayed message received at once");
    const late = await receive(url, { WaitTimeSeconds: 10 });
    eq(late.map((x) => x.Body), ["later"], "the delayed message after its delay");
    await run(new sqs.SendMessageCommand({ QueueUrl: url, MessageBody: "purged" }));
    await run(new sqs.PurgeQueueCommand({ QueueUrl: url }));
    eq(await counts(url), [0, 0], "counts after PurgeQueue");
    await expectError(run(new sqs.PurgeQueueCommand({ QueueUrl: url })), "PurgeQueueInProgress", "a second PurgeQueue within 60 seconds");
  },

  async "sqs/batch"() {
    const url = await createQueue("js-batch");
    const entries = [0, 1, 2].map((i) => ({ Id: `m${i}`, MessageBody: `body ${i}` }));
    const sent = await run(new sqs.SendMessageBatchCommand({ QueueUrl: url, Entries: entries }));
    eq(sent.Successful.map((e) => e.Id).sort(), ["m0", "m1", "m2"], "SendMessageBatch successful ids");
    eq(sent.Failed ?? [], [], "SendMessageBatch failed");
    const got = await receive(url, { VisibilityTimeout: 30 });
    eq(got.map((m) => m.Body).sort(), ["body 0", "body 1", "body 2"], "received batch");
    const cv = await run(new sqs.ChangeMessageVisibilityBatchCommand({ QueueUrl: url, Entries: [
      { Id: "ok", ReceiptHandle: got[0].ReceiptHandle, VisibilityTimeout: 0 },
      { Id: "bad", ReceiptHandle: "bogus", VisibilityTimeout: 5 },
    ] }));
    eq(cv.Successful.map((e) => e.Id), ["ok"], "ChangeMessageVisibilityBatch successful");
    eq(cv.Failed.map((e) => [e.Id, e.Code, e.SenderFault]), [["bad", "ReceiptHandleIsInvalid", true]], "ChangeMessageVisibilityBatch failed");
    eq(await counts(url), [1, 2], "counts after making one visible");
    const del = await run(new sqs.DeleteMessageBatchCommand({ QueueUrl: url,
      Entries: got.slice(1).map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle })) }));
    eq(del.Successful.length, 2, "DeleteMessageBatch successful");
    eq(await counts(url), [1, 0], "counts after DeleteMessageBatch");
    const eleven = Array.from({ length: 11 }, (_, i) => ({ Id: `e${i}`, MessageBody: "x" }));
    await expectError(run(new sqs.SendMessageBatchCommand({ QueueUrl: url, Entries: eleven })),
      "TooManyEntriesInBatchRequest", "a batch of 11");
    await expectError(run(new sqs.SendMessageBatchCommand({ QueueUrl: url, Entries: [entries[0], entries[0]] })),
      "BatchEntryIdsNotDistinct", "repeated ids");
    await expectError(run(new sqs.SendMessageBatchCommand({ QueueUrl: url, Entries: [{ Id: "a".repeat(81), MessageBody: "x" }] })),
      "InvalidBatchEntryId", "an id of 81 characters");
  },

  async "sqs/visibility"() {
    const url = await createQueue("js-visibility");
    await run(new sqs.SendMessageCommand({ QueueUrl: url, MessageBody: "v" }));
    const [m] = await receive(url, { VisibilityTimeout: 3 });
    eq((await receive(url)).length, 0, "received while in flight");
    await sleep(3100);
    const [again] = await receive(url, { MessageSystemAttributeNames: ["ApproximateReceiveCount"], VisibilityTimeout: 30 });
    eq(again?.Attributes?.ApproximateReceiveCount, "2", "receive count after the timeout expired");
    await expectError(run(new sqs.DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: "not-a-handle" })),
      "ReceiptHandleIsInvalid", "DeleteMessage with a made-up handle");
    await run(new sqs.ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: again.ReceiptHandle, VisibilityTimeout: 0 }));
    const [third] = await receive(url, { MessageSystemAttributeNames: ["All"] });
    eq(third?.Attributes?.ApproximateReceiveCount, "3", "receive count after ChangeMessageVisibility 0");
    expect(m.ReceiptHandle !== third.ReceiptHandle, "a new receive kept its receipt handle");
  },

  async "sqs/redrive"() {
    const dlq = await createQueue("js-dlq");
    const dlqArn = await arnOf(dlq);
    const src = await createQueue("js-src", { VisibilityTimeout: "1",
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 1 }) });
    await run(new sqs.SendMessageCommand({ QueueUrl: src, MessageBody: "poison" }));
    eq((await receive(src)).length, 1, "first receive");
    await sleep(1100);
    eq((await receive(src)).length, 0, "a receive past maxReceiveCount");
    const [dead] = await receive(dlq, { MessageSystemAttributeNames: ["All"] });
    eq(dead?.Body, "poison", "the message in the dead-letter queue");
    eq(dead.Attributes.DeadLetterQueueSourceArn, await arnOf(src), "DeadLetterQueueSourceArn");
    const sources = await run(new sqs.ListDeadLetterSourceQueuesCommand({ QueueUrl: dlq }));
    eq(sources.queueUrls, [src], "ListDeadLetterSourceQueues");
  },

  async "sqs/move-tasks"() {
    const dlq = await createQueue("js-move-dlq");
    const dlqArn = await arnOf(dlq);
    const src = await createQueue("js-move-src");
    const srcArn = await arnOf(src);
    await run(new sqs.SetQueueAttributesCommand({ QueueUrl: src, Attributes: {
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 1 }) } }));
    // Messages in the DLQ that came from src: send to src, receive once, let them expire.
    await run(new sqs.SendMessageBatchCommand({ QueueUrl: src, Entries: [0, 1, 2].map((i) => ({ Id: `m${i}`, MessageBody: `m${i}` })) }));
    eq((await receive(src, { VisibilityTimeout: 1 })).length, 3, "received the three");
    await sleep(1100);
    eq((await receive(src)).length, 0, "moved to the DLQ");
    eq(await counts(dlq), [3, 0], "DLQ counts");
    const started = await run(new sqs.StartMessageMoveTaskCommand({ SourceArn: dlqArn }));
    expect(started.TaskHandle, "StartMessageMoveTask returned no TaskHandle");
    let task;
    for (let i = 0; i < 50; i++) {
      [task] = (await run(new sqs.ListMessageMoveTasksCommand({ SourceArn: dlqArn }))).Results;
      if (task?.Status === "COMPLETED") break;
      await sleep(100);
    }
    eq([task?.Status, task?.ApproximateNumberOfMessagesMoved], ["COMPLETED", 3], "the move task");
    eq(await counts(src), [3, 0], "source counts after the move");
    // A slow task to another queue, cancelled.
    const other = await createQueue("js-move-dest");
    for (const m of await receive(src, { VisibilityTimeout: 1 })) void m;
    await sleep(1100);
    await receive(src);
    eq(await counts(dlq), [3, 0], "DLQ counts before the cancelled task");
    const slow = await run(new sqs.StartMessageMoveTaskCommand({ SourceArn: dlqArn, DestinationArn: await arnOf(other), MaxNumberOfMessagesPerSecond: 1 }));
    await expectError(run(new sqs.StartMessageMoveTaskCommand({ SourceArn: dlqArn })), "UnsupportedOperation", "a second task on the same source");
    const cancelled = await run(new sqs.CancelMessageMoveTaskCommand({ TaskHandle: slow.TaskHandle }));
    expect(cancelled.ApproximateNumberOfMessagesMoved >= 0 && cancelled.ApproximateNumberOfMessagesMoved <= 3,
      `moved ${cancelled.ApproximateNumberOfMessagesMoved}`);
    for (let i = 0; i < 50; i++) {
      [task] = (await run(new sqs.ListMessageMoveTasksCommand({ SourceArn: dlqArn }))).Results;
      if (task?.Status === "CANCELLED") break;
      await sleep(100);
    }
    eq(task?.Status, "CANCELLED", "the cancelled task's status");
    eq(task.MaxNumberOfMessagesPerSecond, 1, "the cancelled task's rate");
    void srcArn;
  },

  async "s3/buckets"() {
    const Bucket = unique("js-bucket");
    await b.send(new s3.CreateBucketCommand({ Bucket }));
    await b.send(new s3.HeadBucketCommand({ Bucket }));
    const listed = await b.send(new s3.ListBucketsCommand({}));
    expect(listed.Buckets.some((x) => x.Name === Bucket), `ListBuckets lacks ${Bucket}`);
    await b.send(new s3.DeleteBucketCommand({ Bucket }));
    await expectError(b.send(new s3.HeadBucketCommand({ Bucket })), "NotFound", "HeadBucket after DeleteBucket");
  },

  async "s3/objects"() {
    const Bucket = unique("js-objects");
    await b.send(new s3.CreateBucketCommand({ Bucket }));
    const Body = "attachment \u00e9 bytes";
    const put = await b.send(new s3.PutObjectCommand({ Bucket, Key: "a/b.txt", Body, ContentType: "text/plain",
      Metadata: { owner: "mail" } }));
    eq(put.ETag, `"${md5(Buffer.from(Body))}"`, "PutObject ETag");
    const head = await b.send(new s3.HeadObjectCommand({ Bucket, Key: "a/b.txt" }));
    eq([head.ContentLength, head.ContentType, head.Metadata?.owner, head.ETag], [Buffer.byteLength(Body), "text/plain", "mail", put.ETag], "HeadObject");
    const got = await b.send(new s3.GetObjectCommand({ Bucket, Key: "a/b.txt" }));
    eq(await got.Body.transformToString(), Body, "GetObject body");
    const ranged = await b.send(new s3.GetObjectCommand({ Bucket, Key: "a/b.txt", Range: "bytes=0-9" }));
    eq(await ranged.Body.transformToString(), "attachment", "ranged GetObject");
    await b.send(new s3.CopyObjectCommand({ Bucket, Key: "copy.txt", CopySource: `${Bucket}/a/b.txt` }));
    const copy = await b.send(new s3.GetObjectCommand({ Bucket, Key: "copy.txt" }));
    eq(await copy.Body.transformToString(), Body, "the copy's body");
    await b.send(new s3.DeleteObjectCommand({ Bucket, Key: "a/b.txt" }));
    await expectError(b.send(new s3.GetObjectCommand({ Bucket, Key: "a/b.txt" })), "NoSuchKey", "GetObject after DeleteObject");
    await expectError(b.send(new s3.HeadObjectCommand({ Bucket, Key: "a/b.txt" })), "NotFound", "HeadObject after DeleteObject");
  },

  async "s3/multipart"() {
    const Bucket = unique("js-multipart");
    await b.send(new s3.CreateBucketCommand({ Bucket }));
    const Key = "big.bin";
    const parts = [Buffer.alloc(5 * 1024 * 1024, "a"), Buffer.from("tail")];
    const { UploadId } = await b.send(new s3.CreateMultipartUploadCommand({ Bucket, Key }));
    const done = [];
    for (const [i, Body] of parts.entries()) {
      const r = await b.send(new s3.UploadPartCommand({ Bucket, Key, UploadId, PartNumber: i + 1, Body }));
      eq(r.ETag, `"${md5(Body)}"`, `UploadPart ${i + 1} ETag`);
      done.push({ PartNumber: i + 1, ETag: r.ETag });
    }
    const listedParts = await b.send(new s3.ListPartsCommand({ Bucket, Key, UploadId }));
    eq(listedParts.Parts?.map((p) => p.PartNumber), [1, 2], "ListParts");
    const fin = await b.send(new s3.CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: done } }));
    const want = `"${md5(Buffer.concat(parts.map((p) => createHash("md5").update(p).digest())))}-2"`;
    eq(fin.ETag, want, "CompleteMultipartUpload ETag (MD5 of the part MD5s, dash, part count)");
    const head = await b.send(new s3.HeadObjectCommand({ Bucket, Key }));
    eq([head.ContentLength, head.ETag], [parts[0].length + 4, want], "HeadObject of the assembled object");
    const { UploadId: aborted } = await b.send(new s3.CreateMultipartUploadCommand({ Bucket, Key: "aborted" }));
    await b.send(new s3.AbortMultipartUploadCommand({ Bucket, Key: "aborted", UploadId: aborted }));
    await expectError(b.send(new s3.HeadObjectCommand({ Bucket, Key: "aborted" })), "NotFound", "an aborted upload's object");
  },

  async "s3/listing"() {
    const Bucket = unique("js-listing");
    await b.send(new s3.CreateBucketCommand({ Bucket }));
    const keys = ["a/1", "a/2", "a/3", "b/1", "c"];
    for (const Key of keys) await b.send(new s3.PutObjectCommand({ Bucket, Key, Body: Key }));
    const seen = [];
    const pages = [];
    let ContinuationToken;
    do {
      const page = await b.send(new s3.ListObjectsV2Command({ Bucket, MaxKeys: 2, ContinuationToken }));
      pages.push(page.KeyCount);
      seen.push(...(page.Contents ?? []).map((o) => o.Key));
      expect(page.IsTruncated === Boolean(page.NextContinuationToken), `page ${pages.length}: IsTruncated ${page.IsTruncated} with token ${page.NextContinuationToken}`);
      ContinuationToken = page.NextContinuationToken;
    } while (ContinuationToken && pages.length < 10);
    eq(seen, keys, "ListObjectsV2 keys over pages of 2");
    eq(pages, [2, 2, 1], "ListObjectsV2 page sizes");
    const delim = await b.send(new s3.ListObjectsV2Command({ Bucket, Delimiter: "/" }));
    eq([(delim.CommonPrefixes ?? []).map((p) => p.Prefix), (delim.Contents ?? []).map((o) => o.Key)], [["a/", "b/"], ["c"]], "ListObjectsV2 with Delimiter");
    const prefixed = await b.send(new s3.ListObjectsV2Command({ Bucket, Prefix: "a/", StartAfter: "a/1" }));
    eq((prefixed.Contents ?? []).map((o) => o.Key), ["a/2", "a/3"], "ListObjectsV2 with Prefix and StartAfter");
    const v1 = await b.send(new s3.ListObjectsCommand({ Bucket, MaxKeys: 3 }));
    eq([(v1.Contents ?? []).map((o) => o.Key), v1.IsTruncated], [["a/1", "a/2", "a/3"], true], "ListObjects (v1) first page");
    const v1next = await b.send(new s3.ListObjectsCommand({ Bucket, Marker: "a/3" }));
    eq((v1next.Contents ?? []).map((o) => o.Key), ["b/1", "c"], "ListObjects (v1) after Marker");
  },

  async "s3/presigned"() {
    const Bucket = unique("js-presigned");
    await b.send(new s3.CreateBucketCommand({ Bucket }));
    const putURL = await getSignedUrl(b, new s3.PutObjectCommand({ Bucket, Key: "p.txt" }), { expiresIn: 300 });
    let r = await fetch(putURL, { method: "PUT", body: "presigned body" });
    eq(r.status, 200, `presigned PUT (${await r.text()})`);
    const getURL = await getSignedUrl(b, new s3.GetObjectCommand({ Bucket, Key: "p.txt" }), { expiresIn: 300 });
    r = await fetch(getURL);
    eq([r.status, await r.text()], [200, "presigned body"], "presigned GET");
    const forged = getURL.replace(/X-Amz-Signature=[0-9a-f]+/, "X-Amz-Signature=" + "0".repeat(64));
    r = await fetch(forged);
    eq(r.status, 403, "presigned GET with a forged signature");
  },
};

const only = process.env.COMPAT_SCENARIO;
for (const [name, fn] of Object.entries(scenarios)) {
  if (only && name !== only) continue;
  let error = "";
  try {
    await fn();
  } catch (e) {
    error = e instanceof Difference ? e.message : `${e.name}: ${e.message}`;
  }
  console.log(JSON.stringify({ scenario: name, error }));
}
