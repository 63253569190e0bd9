package perf

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/local"
	"github.com/mailflow/mailflow/local/execstore"
	"github.com/mailflow/mailflow/local/sessim"
	"github.com/mailflow/mailflow/local/sqsstore"
)

// BurstResult is one drain of a burst.
type BurstResult struct {
	Pacing          bool
	N               int
	Rate            float64 // the SES quota R, recipients per second
	Scale           float64 // scaled seconds per wall second
	IdealSeconds    float64 // N / R
	DrainSeconds    float64 // first enqueue to the last mail settled, scaled
	DrainRatio      float64 // DrainSeconds / IdealSeconds
	SESCalls        int
	SESThrottled    int
	ThrottledRatio  float64 // SESThrottled / SESCalls
	PacerThrottled  int     // Send attempts the pacer refused (no SES call)
	RetriesPerMail  float64 // in-execution Send retries (Mail.Throttled) per mail
	Redeliveries    int     // records returned to the queue (retry-later)
	DeadLettered    int
	Sent            int
	Curve           [][2]float64 // scaled seconds → mails sent
	ThrottleCurve   [][2]float64 // scaled seconds → SES throttled answers
	WallSeconds     float64
	PipeConcurrency int
	MapConcurrency  int
}

// burstParams: the default run is small; BENCH_FULL=1 runs N = 6,000 at
// 200/s. BURST_N, BURST_RATE and BURST_SCALE override.
func burstParams() (n int, rate, scale float64) {
	n, rate, scale = 600, 20, 4
	if Full() {
		n, rate, scale = 6000, 200, 0.5
	}
	return int(EnvFloat("BURST_N", float64(n))), EnvFloat("BURST_RATE", rate), EnvFloat("BURST_SCALE", scale)
}

func BenchmarkBurst(b *testing.B) {
	n, rate, scale := burstParams()
	results := map[bool]BurstResult{}
	for _, pacing := range []bool{true, false} {
		b.Run(fmt.Sprintf("pacing=%v/N=%d/R=%g", pacing, n, rate), func(b *testing.B) {
			var r BurstResult
			for range b.N {
				r = runBurst(b, n, rate, scale, pacing)
			}
			results[pacing] = r
			b.ReportMetric(r.DrainRatio, "drain/ideal")
			b.ReportMetric(r.ThrottledRatio*100, "%throttled")
			b.ReportMetric(r.RetriesPerMail, "retries/mail")
			b.ReportMetric(float64(r.Redeliveries), "redeliveries")
			b.ReportMetric(float64(r.DeadLettered), "dlq")
		})
	}
	if len(results) != 2 {
		return
	}
	on, off := results[true], results[false]
	if err := WriteResult(fmt.Sprintf("burst-N%d.json", n), []BurstResult{on, off}); err != nil {
		b.Fatal(err)
	}
	chart := Chart{
		Title:  fmt.Sprintf("Burst of %d mails at an SES quota of %g/s (ideal %.0f s)", n, rate, on.IdealSeconds),
		XLabel: "seconds since the first enqueue (scaled time)", YLabel: "mails sent",
		Series: []Series{
			{Name: "pacing on", Points: on.Curve},
			{Name: "pacing off", Points: off.Curve},
			{Name: "ideal (N/R)", Points: [][2]float64{{0, 0}, {on.IdealSeconds, float64(n)}}, Dashed: true, Color: "#7f7f7f"},
		},
	}
	if err := WriteChart(fmt.Sprintf("burst-N%d.svg", n), chart); err != nil {
		b.Fatal(err)
	}
	tchart := Chart{
		Title:  fmt.Sprintf("SES throttled answers during the burst (N=%d, R=%g/s)", n, rate),
		XLabel: "seconds since the first enqueue (scaled time)", YLabel: "throttled SES calls (cumulative)",
		Series: []Series{{Name: "pacing on", Points: on.ThrottleCurve}, {Name: "pacing off", Points: off.ThrottleCurve}},
	}
	if err := WriteChart(fmt.Sprintf("burst-N%d-throttled.svg", n), tchart); err != nil {
		b.Fatal(err)
	}
}

// burstBody is a minimal valid mail with one recipient.
func burstBody(i int) string {
	return `{"version":1,"mailId":"burst-` + strconv.Itoa(i) + `","to":["r` + strconv.Itoa(i) + `@example.org"],"subject":"Burst","text":"Hello"}`
}

func runBurst(b *testing.B, n int, rate, scale float64, pacing bool) BurstResult {
	b.Helper()
	clock, err := clock.NewScaled(scale)
	if err != nil {
		b.Fatal(err)
	}
	const pipeConcurrency, mapConcurrency = 10, 10
	var (
		mu                             sync.Mutex
		settled, sent, dead, redeliver int
		done                           = make(chan struct{})
		throttledSends                 atomic.Int64
		t0                             time.Time
		curve                          = [][2]float64{{0, 0}}
	)
	cfg := local.Config{
		DataDir: b.TempDir(), Addr: "127.0.0.1:0", Clock: clock,
		SES:           sessim.Config{MaxSendRate: rate},
		DisablePacing: !pacing,
		BatchSize:     10, BatchWindow: 100 * time.Millisecond,
		PipeConcurrency: pipeConcurrency, MapConcurrency: mapConcurrency,
		OnEvent: func(_ string, ev execstore.Event) {
			if ev.Type == "TaskFailed" && bytes.Contains(ev.Details, []byte(`"Mail.Throttled"`)) {
				throttledSends.Add(1)
			}
		},
		OnExecution: func(_ execstore.Execution, items []execstore.Item) {
			now := clock.Now()
			mu.Lock()
			defer mu.Unlock()
			for _, it := range items {
				switch it.Outcome {
				case "sent":
					sent++
					settled++
					curve = append(curve, [2]float64{now.Sub(t0).Seconds(), float64(sent)})
				case "dead-lettered":
					dead++
					settled++
				case "retry-later":
					redeliver++
				}
			}
			if settled == n {
				close(done)
			}
		},
	}
	ctx := context.Background()
	wall := time.Now()
	t0 = clock.Now()
	rt, err := local.Start(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close(context.Background())
	q := rt.Config().SourceQueue
	for i := 0; i < n; i += 10 {
		var entries []sqsstore.SendBatchEntry
		for j := i; j < min(i+10, n); j++ {
			entries = append(entries, sqsstore.SendBatchEntry{ID: strconv.Itoa(j), SendParams: sqsstore.SendParams{Body: burstBody(j)}})
		}
		if _, err := rt.Queues().SendBatch(ctx, q, entries); err != nil {
			b.Fatal(err)
		}
	}
	// Sample the simulator's throttled answers over time.
	stop := make(chan struct{})
	var tcurve [][2]float64
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		tick := time.NewTicker(clock.Wall(500 * time.Millisecond))
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				tcurve = append(tcurve, [2]float64{clock.Now().Sub(t0).Seconds(), float64(rt.SES().Stats().Throttled)})
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Minute):
		b.Fatalf("burst not drained: %d of %d settled", settled, n)
	}
	drain := clock.Now().Sub(t0).Seconds()
	close(stop)
	sampler.Wait()
	st := rt.SES().Stats()
	calls := st.Accepted + st.Throttled + st.QuotaExceeded + st.Paused + st.Rejected + st.Injected
	mu.Lock()
	defer mu.Unlock()
	r := BurstResult{
		Pacing: pacing, N: n, Rate: rate, Scale: scale, IdealSeconds: float64(n) / rate,
		DrainSeconds: drain, SESCalls: calls, SESThrottled: st.Throttled,
		RetriesPerMail: float64(throttledSends.Load()) / float64(n),
		Redeliveries:   redeliver, DeadLettered: dead, Sent: sent,
		Curve: thin(curve, 400), ThrottleCurve: tcurve, WallSeconds: time.Since(wall).Seconds(),
		PipeConcurrency: pipeConcurrency, MapConcurrency: mapConcurrency,
	}
	r.DrainRatio = r.DrainSeconds / r.IdealSeconds
	if calls > 0 {
		r.ThrottledRatio = float64(st.Throttled) / float64(calls)
	}
	r.PacerThrottled = int(throttledSends.Load()) - st.Throttled
	return r
}

// thin keeps at most k points of a curve, always the last.
func thin(pts [][2]float64, k int) [][2]float64 {
	if len(pts) <= k {
		return pts
	}
	out := make([][2]float64, 0, k+1)
	step := float64(len(pts)) / float64(k)
	for i := 0.0; int(i) < len(pts); i += step {
		out = append(out, pts[int(i)])
	}
	if out[len(out)-1] != pts[len(pts)-1] {
		out = append(out, pts[len(pts)-1])
	}
	return out
}
