package sendertest

import (
	"context"
	"sync"

	"github.com/mailflow/mailflow/sender"
)

// Held wraps a sender and holds every send until Release, so that a test
// can look at a pipeline while a mail is being sent. Entered receives once
// per send as it starts waiting.
type Held struct {
	sender.Sender
	Entered chan struct{}
	release chan struct{}
	once    sync.Once
}

// NewHeld returns a Held with room for n sends to start before the test
// reads Entered; wrap a sender by setting Sender.
func NewHeld(n int) *Held {
	return &Held{Entered: make(chan struct{}, n), release: make(chan struct{})}
}

// Send implements [sender.Sender].
func (h *Held) Send(ctx context.Context, m *sender.Message) (string, error) {
	h.Entered <- struct{}{}
	select {
	case <-h.release:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return h.Sender.Send(ctx, m)
}

// Release lets every held and later send through; it may be called again.
func (h *Held) Release() { h.once.Do(func() { close(h.release) }) }
