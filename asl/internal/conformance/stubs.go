package conformance

import (
	"context"
	"fmt"
	"math/big"
	"strings"
	"sync"

	"github.com/mailflow/mailflow/asl"
)

func parseRat(s string) (*big.Rat, bool) { return new(big.Rat).SetString(s) }

// stubFunction replays recorded Lambda answers in order, or by input when
// the recording notes concurrent calls.
type stubFunction struct {
	mu      sync.Mutex
	calls   []any
	byInput bool
	used    []bool
}

func bindStubs(reg *asl.Registry, stubs any) {
	root, _ := stubs.(map[string]any)
	fns, _ := root["functions"].(map[string]any)
	byInput := false
	if notes, ok := root["notes"].([]any); ok {
		for _, n := range notes {
			if s, ok := n.(string); ok && containsAny(s, "concurrent", "by its input", "by input") {
				byInput = true
			}
		}
	}
	for name, f := range fns {
		fm, _ := f.(map[string]any)
		calls, _ := fm["calls"].([]any)
		sf := &stubFunction{calls: calls, byInput: byInput, used: make([]bool, len(calls))}
		reg.RegisterLambda(name, sf)
	}
}

func containsAny(s string, subs ...string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}

// Invoke answers one call with the recorded result.
func (s *stubFunction) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	in, err := asl.DecodeJSON(payload)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	idx := -1
	if s.byInput {
		w := newWildcards(nil)
		for i, c := range s.calls {
			cm, _ := c.(map[string]any)
			if !s.used[i] && w.match(cm["input"], in) {
				idx = i
				break
			}
		}
	}
	if idx < 0 {
		for i := range s.calls {
			if !s.used[i] {
				idx = i
				break
			}
		}
	}
	if idx >= 0 {
		s.used[idx] = true
	}
	s.mu.Unlock()
	if idx < 0 {
		return nil, fmt.Errorf("stub: no recorded call left")
	}
	cm, _ := s.calls[idx].(map[string]any)
	res, _ := cm["result"].(map[string]any)
	if res == nil {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if e, ok := res["error"].(string); ok {
		if t, _ := res["timeout"].(bool); t {
			return nil, &asl.Error{Name: e, HasName: true}
		}
		c, hasCause := res["cause"].(string)
		return nil, &asl.Error{Name: e, HasName: true, Cause: c, HasCause: hasCause}
	}
	return pythonJSON(res["payload"]), nil
}
