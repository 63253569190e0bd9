// Runs the mail state machine in aws-local-stepfunctions (the reference
// local interpreter) for each scenario, with the tasks replaced by the
// scripted stubs described in differential_test.go, and prints
// {scenario name: output} as JSON.
// Usage: NODE_PATH=<tools node_modules> node als-differential.cjs DEFINITION SCENARIOS
'use strict';
// aws-local-stepfunctions 3.0.0 calls Promise.withResolvers (Node >= 22).
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers() {
    let resolve, reject;
    const promise = new this((res, rej) => { resolve = res; reject = rej; });
    return { promise, resolve, reject };
  };
}
const fs = require('node:fs');
const { StateMachine } = require('aws-local-stepfunctions');

const [defFile, scenarioFile] = process.argv.slice(2);
const definition = JSON.parse(fs.readFileSync(defFile, 'utf8'));

// aws-local-stepfunctions has no $$.State.RetryCount (Step Functions has;
// asl's is checked against recorded AWS runs in the conformance corpus).
// The stubs below never read the task's retryCount, so the parameter is
// dropped here rather than failing every path that reaches Send.
(function dropRetryCount(node) {
  if (Array.isArray(node)) { node.forEach(dropRetryCount); return; }
  if (node === null || typeof node !== 'object') return;
  for (const [k, v] of Object.entries(node)) {
    if (v === '$$.State.RetryCount') delete node[k];
    else dropRetryCount(v);
  }
})(definition);
const scenarios = JSON.parse(fs.readFileSync(scenarioFile, 'utf8'));

function taskError(name) {
  const e = new Error(`scripted ${name}`);
  e.name = name; // Retry and Catch match error.name
  return e;
}

function handlers(stubs, reserveFails) {
  const attempts = new Map();
  const attempt = (state, mailId) => {
    const k = `${state}/${mailId}`;
    const n = (attempts.get(k) ?? 0) + 1;
    attempts.set(k, n);
    return n;
  };
  const mailIdOf = (body) => JSON.parse(body).mailId;
  const lambda = (state, behave) => (input) => {
    const mailId = mailIdOf(input.Payload.body);
    const result = behave(stubs[mailId] ?? {}, attempt(state, mailId), mailId, input.Payload);
    return { Payload: result, StatusCode: 200, ExecutedVersion: '$LATEST' };
  };
  // The Send task's two states (staged and inline messages) behave alike;
  // their attempts are counted apart, as the states' retries are.
  const send = (s, n, mailId) => {
    const errs = s.send ?? [];
    if (n <= errs.length) throw taskError(errs[n - 1]);
    return { sesMessageId: `ses-${mailId}`, outcome: "sent" };
  };
  const release = (s, n, mailId) => {
    if (s.release) throw taskError(s.release);
    return { released: true, reason: 'released' };
  };
  return {
    ReserveSends: (input) => {
      if (reserveFails) throw taskError(reserveFails);
      const grants = input.Payload.records.map((_, i) => 1796000000000000 + i * 100000);
      return { Payload: { grants }, StatusCode: 200, ExecutedVersion: '$LATEST' };
    },
    AcquireLock: lambda('AcquireLock', (s, n, mailId, p) => {
      const a = s.acquire ?? 'acquired';
      if (a !== 'acquired' && a !== 'already-sent') throw taskError(a);
      return { outcome: a, mailId, owner: p.owner };
    }),
    FetchAttachments: lambda('FetchAttachments', (s) => {
      if (s.fetch) throw taskError(s.fetch);
      if (s.inline) return { inline: 'U3ViamVjdDogeA0KDQp4', size: 15, sha256: 'abc' };
      return { key: 'staging/x.eml', size: 100, sha256: 'abc' };
    }),
    Send: lambda('Send', send),
    SendInline: lambda('SendInline', send),
    ReleaseForDeadLetter: lambda('ReleaseForDeadLetter', release),
    ReleaseForRetry: lambda('ReleaseForRetry', release),
    // The events queue takes every record.
    RecordDeadLettered: () => ({ MessageId: 'ev-1', MD5OfMessageBody: 'x' }),
    DeadLetter: (input) => {
      const s = stubs[mailIdOf(input.MessageBody)] ?? {};
      if (s.deadLetter) throw taskError(s.deadLetter);
      return { MessageId: 'dlq-1', MD5OfMessageBody: 'x' };
    },
  };
}

const noPause = { ReserveSends: 0, AcquireLock: 0, FetchAttachments: 0, Send: 0, SendInline: 0, ReleaseForDeadLetter: 0, ReleaseForRetry: 0, DeadLetter: 0 };

(async () => {
  const sm = new StateMachine(definition);
  const out = {};
  for (const sc of scenarios) {
    // The definition reads $$.Execution.Id, which this library leaves unset
    // unless given.
    const context = { Execution: { Id: `arn:aws:states:us-east-1:000000000000:express:mailflow:${sc.name.replace(/\W/g, '-')}:1`, Name: 'differential' } };
    const ex = sm.run(sc.input, { context, overrides: { taskResourceLocalHandlers: handlers(sc.stubs ?? {}, sc.reserveFails), retryIntervalOverrides: noPause } });
    try {
      out[sc.name] = { output: await ex.result };
    } catch (e) {
      out[sc.name] = { error: `${e.name}: ${e.message}` };
    }
  }
  process.stdout.write(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
