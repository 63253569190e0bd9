package asl

// scope holds the variables visible to a block of states. Map iterations and
// Parallel branches get a child scope: they read the outer variables, and
// what they assign stays inside.
type scope struct {
	vars   map[string]any
	parent *scope
}

func newScope(parent *scope) *scope { return &scope{parent: parent} }

func (s *scope) lookup(name string) (any, bool) {
	for c := s; c != nil; c = c.parent {
		if v, ok := c.vars[name]; ok {
			return v, true
		}
	}
	return nil, false
}

func (s *scope) set(vals map[string]any) {
	if s.vars == nil {
		s.vars = make(map[string]any, len(vals))
	}
	for k, v := range vals {
		s.vars[k] = v
	}
}
