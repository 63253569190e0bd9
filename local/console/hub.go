package console

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/mailflow/mailflow/local/execstore"
)

// Hub fans the runtime's live events out to the console's SSE clients.
// Its methods never block: a client that does not keep up loses events
// (its page reloads what it shows on the next one).
type Hub struct {
	mu   sync.Mutex
	subs map[chan message]struct{}
}

type message struct {
	kind string
	data []byte
}

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{subs: map[chan message]struct{}{}} }

func (h *Hub) subscribe() (chan message, func()) {
	ch := make(chan message, 256)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs, ch)
		h.mu.Unlock()
	}
}

func (h *Hub) publish(kind string, v any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.subs) == 0 {
		return
	}
	data, err := json.Marshal(v)
	if err != nil {
		return
	}
	for ch := range h.subs {
		select {
		case ch <- message{kind, data}:
		default:
		}
	}
}

// Event is the runtime's OnEvent callback: a history event as it happens.
// Only its id, type and name are sent to the browser.
func (h *Hub) Event(executionID string, ev execstore.Event) {
	h.mu.Lock()
	n := len(h.subs)
	h.mu.Unlock()
	if n == 0 {
		return
	}
	var d struct {
		Name string `json:"name"`
	}
	if ev.Type != "ExecutionStarted" && len(ev.Details) < 1<<16 {
		_ = json.Unmarshal(ev.Details, &d)
	}
	h.publish("event", map[string]any{"executionId": executionID, "id": ev.ID, "type": ev.Type, "name": d.Name, "timestamp": ev.Timestamp.Format(time.RFC3339Nano)})
}

// Execution is the runtime's OnExecution callback: an execution finished.
func (h *Hub) Execution(e execstore.Execution, items []execstore.Item) {
	failed := 0
	for _, it := range items {
		if it.Failed() {
			failed++
		}
	}
	h.publish("execution", map[string]any{"id": e.ID, "name": e.Name, "status": e.Status, "items": len(items), "failedItems": failed})
}
