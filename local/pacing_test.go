package local_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/client"
	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/local"
	"github.com/mailflow/mailflow/local/sessim"
)

// TestPacedToSimulatorQuota: with a send rate on the simulator, sends are
// paced by a pacer reading the simulator's quota, on the configured clock.
func TestPacedToSimulatorQuota(t *testing.T) {
	t.Parallel()
	fast, err := clock.NewScaled(4)
	if err != nil {
		t.Fatal(err)
	}
	rt, c, done := start(t, local.Config{Clock: fast, SES: sessim.Config{MaxSendRate: 5}})
	if rt.Pacer() == nil {
		t.Fatal("no pacer although the simulator has a send rate")
	}
	if r, err := rt.Pacer().Rate(context.Background()); err != nil || r != 5 {
		t.Fatalf("pacer rate %v, %v; want the simulator's 5/s", r, err)
	}
	for i := range 4 {
		if _, err := c.Send(context.Background(), client.Mail{MailID: fmt.Sprintf("paced-%d", i), To: []string{"ann@example.org"}, Subject: "s", Text: "t"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, it := range waitItems(t, done, 4) {
		if it.Outcome != "sent" {
			t.Fatalf("item %+v", it)
		}
	}
	if st := rt.SES().Stats(); st.Accepted != 4 {
		t.Fatalf("simulator stats %+v", st)
	}
}

func TestPacingOff(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]local.Config{
		"disabled":     {DisablePacing: true, SES: sessim.Config{MaxSendRate: 5}},
		"no send rate": {},
	} {
		rt, _, _ := start(t, cfg)
		if rt.Pacer() != nil {
			t.Errorf("%s: sends are paced", name)
		}
	}
}

// TestBatchReservesItsSendsOnce: each execution reserves its batch's send
// tokens in one bucket write (ReserveSends), and its sends use their grants
// without a write of their own.
func TestBatchReservesItsSendsOnce(t *testing.T) {
	t.Parallel()
	// A send more than a quarter second (Grace) after its grant takes its
	// own tokens; on a clock ten times slower that is 2.5 wall-clock seconds,
	// far more than a send of this small batch is late by on a loaded machine.
	slow, err := clock.NewScaled(0.1)
	if err != nil {
		t.Fatal(err)
	}
	rt, c, done := start(t, local.Config{Clock: slow, SES: sessim.Config{MaxSendRate: 100}})
	const n = 6
	for i := range n {
		if _, err := c.Send(context.Background(), client.Mail{MailID: fmt.Sprintf("reserved-%d", i), To: []string{"ann@example.org"}, Subject: "s", Text: "t"}); err != nil {
			t.Fatal(err)
		}
	}
	executions, items := 0, 0
	for items < n {
		f := <-done
		executions++
		for _, it := range f.items {
			if it.Outcome != "sent" {
				t.Fatalf("item %+v", it)
			}
			items++
		}
	}
	if got := rt.Pacer().Counts(); got.Reservations != int64(executions) || got.Takes != 0 || got.Expired != 0 {
		t.Fatalf("pacer counts %+v after %d executions, want one reservation each and no take", got, executions)
	}
	if st := rt.SES().Stats(); st.Accepted != n {
		t.Fatalf("simulator stats %+v", st)
	}
}

// TestFailedReservationStillSends: when the batch's reservation fails (the
// function errs, as a crashed or timed-out Lambda would, past its
// retries), the state machine carries on without grants and every send
// takes its own tokens: each mail is sent once.
func TestFailedReservationStillSends(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	rt, c, done := startWith(t, local.Config{SES: sessim.Config{MaxSendRate: 100}}, local.Hooks{
		WrapReserveSends: func(asl.LambdaHandler) asl.LambdaHandler {
			return asl.LambdaHandlerFunc(func(context.Context, []byte) ([]byte, error) {
				calls.Add(1)
				return nil, asl.NewError("Lambda.ServiceException", "the reservation is down")
			})
		},
	})
	const n = 4
	for i := range n {
		if _, err := c.Send(context.Background(), client.Mail{MailID: fmt.Sprintf("unreserved-%d", i), To: []string{"ann@example.org"}, Subject: "s", Text: "t"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, it := range waitItems(t, done, n) {
		if it.Outcome != "sent" {
			t.Fatalf("item %+v", it)
		}
	}
	if got := rt.Pacer().Counts(); got.Reservations != 0 || got.Takes != n || calls.Load() == 0 {
		t.Fatalf("pacer counts %+v after %d failed reservations, want a take per send", got, calls.Load())
	}
	if st := rt.SES().Stats(); st.Accepted != n {
		t.Fatalf("simulator stats %+v", st)
	}
}
