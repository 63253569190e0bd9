package local_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/mailflow/mailflow/client"
	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/local"
	"github.com/mailflow/mailflow/local/sessim"
)

// TestPacedToSimulatorQuota: with a send rate on the simulator, sends are
// paced by a pacer reading the simulator's quota, on the configured clock.
func TestPacedToSimulatorQuota(t *testing.T) {
	t.Parallel()
	clock, err := clock.NewScaled(4)
	if err != nil {
		t.Fatal(err)
	}
	rt, c, done := start(t, local.Config{Clock: clock, SES: sessim.Config{MaxSendRate: 5}})
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
	rt, c, done := start(t, local.Config{SES: sessim.Config{MaxSendRate: 100}})
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
