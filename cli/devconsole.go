package cli

import (
	"context"
	"net"
	"os"
	"sync"
	"time"

	"github.com/mailflow/mailflow/inspect"
	"github.com/mailflow/mailflow/local"
	"github.com/mailflow/mailflow/local/console"
	"github.com/mailflow/mailflow/local/sqlitefeedback"
	"github.com/mailflow/mailflow/workflow"
)

// consoleAddr is where the console listens: --console, except that the
// demo, which exits at once, serves none unless asked.
func (o *devOptions) consoleAddr() string {
	if o.demo && !o.consoleSet {
		return "off"
	}
	return o.console
}

func validateConsoleAddr(addr string) error {
	if addr == "" || addr == "off" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return usagef("--console %q: want host:port (or off)", addr)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return usagef("--console %q is not a loopback address; the console has no authentication", addr)
	}
	return nil
}

// startConsole serves the web console next to the runtime (unless addr is
// off) and writes the data directory's dev file, through which the CLI
// reaches this runtime's endpoint. The returned function undoes both; the
// URL is the console's, "" when none is served.
// A console on the default address that cannot listen (the port is taken,
// e.g. by another data directory's runtime) is skipped with a warning; one
// asked for explicitly is an error.
func startConsole(ctx context.Context, rt *local.Runtime, hub *console.Hub, addr string, explicit bool, w *syncWriter) (func(), string, error) {
	c := rt.Config()
	info := rt.DevInfo()
	info.PID = os.Getpid()
	info.AllowedSenders, info.DefaultSender = c.AllowedSenders, c.DefaultSender
	var stops []func()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			for i := len(stops) - 1; i >= 0; i-- {
				stops[i]()
			}
		})
	}
	if addr != "" && addr != "off" {
		backend := rt.Inspection()
		srv, err := console.New(console.Options{Backend: backend, Definition: workflow.Definition(), Hub: hub, Clock: c.Clock, Log: c.Log,
			Counts: deliveryCounts{db: rt.Feedback(), now: c.Clock.Now}})
		if err != nil {
			return nil, "", err
		}
		l, err := console.Listen(addr)
		if err != nil && explicit {
			return nil, "", err
		}
		if err != nil {
			w.printf("  console       not started: %v (choose another with --console)\n", err)
			return startConsole(ctx, rt, hub, "off", false, w)
		}
		cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			srv.Serve(cctx, l)
		}()
		stops = append(stops, func() { cancel(); wg.Wait() })
		info.Console = "http://" + l.Addr().String()
		w.printf("  console       %s\n", info.Console)
	}
	remove, err := rt.DataDir().WriteDevInfo(info)
	if err != nil {
		stop()
		return nil, "", err
	}
	stops = append(stops, remove)
	return stop, info.Console, nil
}

// deliveryCounts counts the data directory's live delivery records for the
// console's dashboard, each under its inspect.MailState: the most recently
// updated 1,000, which is what a developer's dashboard shows.
type deliveryCounts struct {
	db  *sqlitefeedback.DB
	now func() time.Time
}

func (d deliveryCounts) DeliveryCounts(ctx context.Context) (console.DeliveryCounts, error) {
	mails, err := d.db.Recent(ctx, 1000)
	if err != nil {
		return console.DeliveryCounts{}, err
	}
	out := console.DeliveryCounts{ByState: map[workflow.OutcomeEventType]int{}}
	now := d.now()
	for _, m := range mails {
		if !now.Before(m.ExpiresAt) {
			continue
		}
		state, suppressed := inspect.MailState(m)
		out.ByState[state]++
		if suppressed {
			out.Suppressed++
		}
	}
	return out, nil
}
