// Package health is the local runtime's operator endpoints: GET /healthz,
// whether the runtime can do its work, and GET /metrics, its figures in the
// Prometheus text format.
//
// Decisions:
//
//   - The figures come from what the runtime already keeps. Queue depths
//     and executions in flight are read when scraped (one SQLite count per
//     queue), the SES simulator's throttles from its own counter; only the
//     mails sent and failed and the execution latency are counted here, once
//     per finished execution, off the send path.
//   - A mail is counted failed when its record was dead-lettered or sent
//     back to the queue, labelled with the error name that did it; a record
//     sent back is counted again on each attempt that fails.
//   - /healthz probes every store with one cheap read and, when mail is
//     relayed to an SMTP server, dials it over TCP (DialTimeout). The dial's
//     answer is kept for CacheFor, so a scraper polling every second dials
//     the relay at most once per CacheFor. Any failure answers 503.
//   - The endpoints authenticate nothing: local/gateway serves them only to
//     unsigned GET requests from a loopback peer addressed to a loopback
//     Host, never to a request a browser marks cross-site (see SECURITY.md).
package health
