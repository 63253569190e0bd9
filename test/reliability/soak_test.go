package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/local"
	"github.com/mailflow/mailflow/local/datadir"
	"github.com/mailflow/mailflow/local/pipes"
	"github.com/mailflow/mailflow/local/sessim"
	"github.com/mailflow/mailflow/testkit/faults"
	"github.com/mailflow/mailflow/workflow"
)

// soakMails is how many mails TestSoak sends: MAILFLOW_SOAK_MAILS, or 2,000
// (300 under the race detector, which makes everything several times
// slower). `make soak` runs 100,000.
func soakMails(t *testing.T) int {
	if v := os.Getenv("MAILFLOW_SOAK_MAILS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 10 {
			t.Fatalf("MAILFLOW_SOAK_MAILS=%q: want a number ≥ 10", v)
		}
		return n
	}
	if raceEnabled {
		return 300
	}
	return 2000
}

// executionStore reports what the execution store holds and the room its
// file takes, the WAL included.
func (w *world) executionStore() string {
	u, err := w.rt.Executions().Usage(context.Background())
	if err != nil {
		return "executions.db: " + err.Error()
	}
	path := filepath.Join(w.data, datadir.ExecutionsFile)
	var wal int64
	if fi, err := os.Stat(path + "-wal"); err == nil {
		wal = fi.Size()
	}
	kept, _ := w.rt.Executions().Kept(context.Background())
	return fmt.Sprintf("%s: %d executions kept (%s), %d pruned; %.1f MiB (%.1f MiB free) + %.1f MiB WAL",
		datadir.ExecutionsFile, u.Executions, kept.Retention, kept.Pruned, float64(u.Bytes)/(1<<20), float64(u.FreeBytes)/(1<<20), float64(wal)/(1<<20))
}

// memSample is the process's memory at one moment of the soak.
type memSample struct {
	at         time.Duration
	heap, sys  uint64
	goroutines int
	delivered  int
}

// TestSoak sends many mails through the local runtime while random faults
// strike 1 % of the step boundaries (some of them crashes, each followed by
// a restart on the same data directory), 5 % of the mails are enqueued
// twice, 1 % have a missing attachment (dead-lettered), and SES throttles
// above its send rate. A tenth of the delays are 300 s stalls (past every
// task timeout); 0.1 % of the mails grow past the execution input once
// encoded (Mail.TooLarge) and 0.1 % fail every execution they are in as a
// whole (their batch-mates must still be delivered). It reports delivered,
// duplicates, DLQ, outcome-unknown and lost mails, and memory over time;
// lost and duplicates must be 0.
func TestSoak(t *testing.T) {
	n := soakMails(t)
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("MAILFLOW_SOAK_SEED"); v != "" {
		seed, _ = strconv.ParseUint(v, 10, 64)
	}
	t.Logf("soak: %d mails, seed %d (MAILFLOW_SOAK_SEED replays it)", n, seed)
	rng := rand.New(rand.NewPCG(seed, 1))

	w := newWorld(t, local.Config{
		PipeConcurrency: 4, BatchSize: 10, MapConcurrency: 10,
		// A send rate below what the pipeline can do: SES throttles, and
		// the Send task's Retry on Mail.Throttled backs off.
		SES: sessim.Config{MaxSendRate: 2}, DisablePacing: true,
	})
	culprits := &failHolding{culprits: map[string]bool{}}
	w.wrapTarget = func(next pipes.Target) pipes.Target { return culprits.on(next) }
	plans := 0
	newPlan := func() *faults.Plan {
		plans++
		// A tenth of the delays are stalls of 300 s: past every task's
		// TimeoutSeconds, also after SES accepted.
		return faults.New(faults.WithClock(w.clock), faults.WithRandom(faults.Random{
			Rate: 0.01, CrashRate: 0.02, MaxDelay: 20 * time.Second, StallRate: 0.1, Stall: 300 * time.Second, Seed: seed + uint64(plans),
		}))
	}
	w.start(newPlan())

	// One shared attachment for a tenth of the mails.
	_, s3c := w.sdk()
	if _, err := s3c.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(w.rt.Config().Bucket), Key: aws.String("attachments/soak/shared.txt"), Body: strings.NewReader("shared attachment"),
	}); err != nil {
		t.Fatal(err)
	}

	// bad holds the mails that must end in the DLQ, with the error each
	// must carry there.
	good, bad := map[string]bool{}, map[string]workflow.ErrorName{}
	var bodies []string
	twice := 0
	for i := range n {
		id := fmt.Sprintf("soak-%06d", i)
		var b string
		switch x := rng.Float64(); {
		case x < 0.001:
			// Fits SQS, grows past the execution input once encoded.
			b = rawBody(id, map[string]any{"text": strings.Repeat(`"`, 70_000)})
			bad[id] = workflow.TooLarge
		case x < 0.002:
			// Fails every execution it is in, as a whole.
			b = body(id)
			culprits.culprits[id] = true
			bad[id] = workflow.ErrorName(asl.ErrRuntime)
		case x < 0.012:
			b = body(id, "attachments/soak/missing-"+id)
			bad[id] = workflow.AttachmentMissing
		case x < 0.11:
			b = body(id, "attachments/soak/shared.txt")
			good[id] = true
		default:
			b = body(id)
			good[id] = true
		}
		bodies = append(bodies, b)
		if rng.Float64() < 0.05 {
			bodies = append(bodies, b) // the producer sent it twice
			twice++
		}
	}

	start := time.Now()
	var (
		memMu   sync.Mutex
		samples []memSample
	)
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		s := memSample{at: time.Since(start).Round(time.Second), heap: ms.HeapAlloc, sys: ms.Sys, goroutines: runtime.NumGoroutine(), delivered: w.outboxCount()}
		memMu.Lock()
		samples = append(samples, s)
		memMu.Unlock()
	}
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(max(5*time.Second, time.Duration(n/100)*time.Millisecond*10))
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				sample()
			}
		}
	}()
	sample()

	// Enqueue in the background as producers do, while the pipeline runs
	// (and crashes and restarts).
	w.enqueue(bodies...)
	limit := time.Duration(n)*20*time.Millisecond + 2*time.Minute
	for w.settle(limit) {
		t.Logf("crash at %s after %s; restarting", w.plan.CrashedAt(), time.Since(start).Round(time.Millisecond))
		struck := w.plan.Summary()
		w.restart(newPlan())
		t.Logf("faults of the crashed run: %s", struck)
	}
	close(stop)
	<-sampled
	sample()
	elapsed := time.Since(start)

	got := w.deliveries()
	dl := w.deadLetters()
	var delivered, duplicates, lost, wrongDLQ, noReason, badSent, unknownSent, unknownUnsent int
	inDLQ := map[string]int{}
	unknown := map[string]bool{}
	for _, d := range dl {
		inDLQ[d.MailID]++
		if d.Error == "" || !strings.Contains(d.Failure, `"Cause"`) {
			noReason++
		}
		switch {
		case good[d.MailID] && d.Error == string(workflow.OutcomeUnknown) && strings.Contains(d.Failure, "--force"):
			// A fault struck between recording the send attempt and
			// recording SES's answer: dead-lettered, never sent twice.
			unknown[d.MailID] = true
		case bad[d.MailID] == "":
			wrongDLQ++
			t.Errorf("%s dead-lettered: %s %s", d.MailID, d.Error, d.Failure)
		case d.Error != string(bad[d.MailID]):
			t.Errorf("%s dead-lettered as %s, want %s", d.MailID, d.Error, bad[d.MailID])
		}
	}
	for id := range good {
		switch c := got[id]; {
		case c == 0 && unknown[id]:
			// The process died after the attempt was recorded and
			// before SES answered (or was called): in the DLQ with its
			// reason, for an operator to send with replay --force.
			unknownUnsent++
		case c == 0:
			lost++
			t.Errorf("%s lost: neither delivered nor dead-lettered; %s", id, w.history(id))
		case c == 1:
			delivered++
			if unknown[id] {
				unknownSent++
			}
		default:
			delivered++
			duplicates += c - 1
			t.Errorf("%s delivered %d times; %s", id, c, w.history(id))
		}
	}
	for id := range bad {
		if got[id] > 0 {
			badSent++
		}
		if inDLQ[id] == 0 {
			lost++
			t.Errorf("%s lost: it must be dead-lettered (%s) and it is not in the DLQ", id, bad[id])
		}
	}

	var b strings.Builder
	kinds := map[workflow.ErrorName]int{}
	for _, name := range bad {
		kinds[name]++
	}
	fmt.Fprintf(&b, "soak: %d mails (%d enqueued twice), %d runtime restarts after crashes, %s\n", n, twice, w.restarts, elapsed.Round(time.Second))
	fmt.Fprintf(&b, "  to be dead-lettered: %d missing attachment, %d too large once encoded, %d failing their executions as a whole (%d executions failed)\n",
		kinds[workflow.AttachmentMissing], kinds[workflow.TooLarge], kinds[workflow.ErrorName(asl.ErrRuntime)], culprits.failed.Load())
	fmt.Fprintf(&b, "  faults struck: %s\n", w.struckSummary())
	fmt.Fprintf(&b, "  delivered %d, duplicates %d, DLQ %d (%d copies, %d without reason), lost %d\n", delivered, duplicates, len(inDLQ), len(dl), noReason, lost)
	fmt.Fprintf(&b, "  outcome-unknown in the DLQ: %d delivered once, %d not delivered (the process died between recording the attempt and SES's answer)\n", unknownSent, unknownUnsent)
	fmt.Fprintf(&b, "  executions by status: %v; SES since the last restart: %+v\n", w.statuses(), w.rt.SES().Stats())
	fmt.Fprintf(&b, "  %s\n", w.executionStore())
	fmt.Fprintf(&b, "  memory over time (heap / sys / goroutines / delivered):\n")
	for _, s := range samples {
		fmt.Fprintf(&b, "    %6s  %5.1f MiB / %5.1f MiB / %4d / %d\n", s.at, float64(s.heap)/(1<<20), float64(s.sys)/(1<<20), s.goroutines, s.delivered)
	}
	t.Log(b.String())
	if out := os.Getenv("MAILFLOW_SOAK_REPORT"); out != "" {
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if lost != 0 || wrongDLQ != 0 || noReason != 0 || badSent != 0 {
		t.Fatalf("lost %d, good mails dead-lettered %d, dead letters without reason %d, bad mails sent %d", lost, wrongDLQ, noReason, badSent)
	}
	// No fault, crash or producer resend sends a mail twice: a send
	// whose answer is lost is dead-lettered as outcome-unknown instead.
	if duplicates != 0 {
		t.Fatalf("%d duplicate deliveries", duplicates)
	}
}

// failHolding fails, as a whole (FAILED, States.Runtime), every execution
// whose input holds one of its culprits; other inputs run as they are. The
// set is filled before the first runtime starts and only read after.
type failHolding struct {
	culprits map[string]bool
	failed   atomic.Int64
}

func (f *failHolding) on(next pipes.Target) pipes.Target {
	return pipes.TargetFunc(func(ctx context.Context, input []byte) (pipes.Outcome, error) {
		var recs []workflow.Record
		if err := json.Unmarshal(input, &recs); err != nil {
			return pipes.Outcome{}, err
		}
		for _, r := range recs {
			if id := workflow.PeekMailID(r.Body); f.culprits[id] {
				n := f.failed.Add(1)
				return pipes.Outcome{
					ExecutionID: fmt.Sprintf("arn:aws:states:us-east-1:000000000000:express:mailflow:soak-failed-%d:0", n),
					Status:      asl.StatusFailed, Error: asl.ErrRuntime, Cause: "injected: the execution holding " + id + " fails as a whole",
				}, nil
			}
		}
		return next.Invoke(ctx, input)
	})
}
