package local

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"

	"github.com/mailflow/mailflow/feedback/sesevent"
	"github.com/mailflow/mailflow/sender"
)

// relayWatch is the SMTP relay with its outage reported: the first send
// that cannot reach the relay logs one error, the rest of the outage is
// quiet (every mail waits and retries, and one line a mail would bury the
// cause), and the first send that goes through again logs that it does.
type relayWatch struct {
	next sender.Sender
	addr string
	log  *slog.Logger

	mu   sync.Mutex
	down bool
}

func (w *relayWatch) Send(ctx context.Context, m *sender.Message) (string, error) {
	id, err := w.next.Send(ctx, m)
	w.observe(m, err)
	return id, err
}

// SendEach keeps the relay's one transaction with per-recipient answers
// (the SES simulator relays through it when the sender has it).
func (w *relayWatch) SendEach(ctx context.Context, m *sender.Message) (string, map[string]error, error) {
	each, ok := w.next.(interface {
		SendEach(context.Context, *sender.Message) (string, map[string]error, error)
	})
	if !ok {
		id, err := w.Send(ctx, m)
		return id, nil, err
	}
	id, refused, err := each.SendEach(ctx, m)
	w.observe(m, err)
	return id, refused, err
}

// observe logs the start and the end of an outage: a send that could not
// connect, then the first that could.
func (w *relayWatch) observe(m *sender.Message, err error) {
	var ne *net.OpError
	unreachable := err != nil && errors.As(err, &ne)
	w.mu.Lock()
	changed := unreachable != w.down
	w.down = unreachable
	w.mu.Unlock()
	switch {
	case changed && unreachable:
		w.log.Error("the SMTP relay is unreachable: deliveries are retried until it answers or their tries run out; logged once per outage (see /healthz)",
			"smtp", w.addr, "mailId", mailIDOf(m), "err", err)
	case changed:
		w.log.Warn("the SMTP relay answers again", "smtp", w.addr, "mailId", mailIDOf(m))
	}
}

// mailIDOf is the mailId the Send task tagged the message with.
func mailIDOf(m *sender.Message) string {
	for _, t := range m.Tags {
		if t.Name == sesevent.MailIDTag {
			return t.Value
		}
	}
	return ""
}
