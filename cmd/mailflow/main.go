// Command mailflow runs the mail pipeline locally (`mailflow dev`) and
// enqueues, inspects and replays mail. See `mailflow help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/mailflow/mailflow/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
