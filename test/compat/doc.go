// Package compat checks the local SQS and S3 endpoints (local/gateway in
// front of local/sqsapi and local/s3local, signatures verified) with
// clients this project did not write: the AWS SDK for JavaScript v3
// (scenarios.mjs, its packages pinned in package-lock.json and installed by
// the test with npm ci into $MAILFLOW_TOOLS_CACHE) and the AWS CLI v1 (aws
// on PATH). Both run the scenarios the Go SDK runs in the conformance
// suites: queues, messages, batches, visibility, dead-letter redrive, move
// tasks; buckets, objects, multipart uploads, listing with paging and
// presigned URLs. A failure names the client, the scenario and the
// difference. A missing node, npm or aws is a failure, not a skip.
//
// docs/COMPATIBILITY.md lists what each client is tested with and every
// known difference from AWS.
package compat
