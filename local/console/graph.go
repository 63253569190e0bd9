package console

import (
	"encoding/json"
	"errors"
	"sort"
)

// Graph is the state machine drawn as boxes and arrows: each state a node
// placed in layers by its longest path from StartAt, Map states as frames
// around their item processor.
type Graph struct {
	Nodes  []Node `json:"nodes"`
	Edges  []Edge `json:"edges"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

// Node is a state.
type Node struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Parent string `json:"parent,omitempty"` // the Map that holds it
	X      int    `json:"x"`
	Y      int    `json:"y"`
	W      int    `json:"w"`
	H      int    `json:"h"`
	Frame  bool   `json:"frame,omitempty"` // a Map drawn around its states
}

// Edge is a transition.
type Edge struct {
	From string `json:"from"`
	To   string `json:"to"`
	Kind string `json:"kind"` // next, choice, default, catch
}

type aslState struct {
	Type    string `json:"Type"`
	Next    string `json:"Next"`
	Default string `json:"Default"`
	Choices []struct {
		Next string `json:"Next"`
	} `json:"Choices"`
	Catch []struct {
		Next string `json:"Next"`
	} `json:"Catch"`
	ItemProcessor *aslMachine `json:"ItemProcessor"`
	Iterator      *aslMachine `json:"Iterator"`
}

type aslMachine struct {
	StartAt string              `json:"StartAt"`
	States  map[string]aslState `json:"States"`
}

const (
	nodeW, nodeH = 170, 36
	gapX, gapY   = 24, 30
	pad          = 20
)

// Layout lays out a definition.
func Layout(definition []byte) (Graph, error) {
	var m aslMachine
	if err := json.Unmarshal(definition, &m); err != nil {
		return Graph{}, err
	}
	if m.StartAt == "" || len(m.States) == 0 {
		return Graph{}, errors.New("the definition has no states")
	}
	var g Graph
	w, h := layoutMachine(&g, m, "", pad, pad)
	g.Width, g.Height = w+2*pad, h+2*pad
	return g, nil
}

// layoutMachine places a machine's states with their top-left at (x0, y0)
// and returns the size it took.
func layoutMachine(g *Graph, m aslMachine, parent string, x0, y0 int) (int, int) {
	order := []string{}
	seen := map[string]bool{}
	var visit func(string)
	succ := func(name string) []Edge {
		st := m.States[name]
		var out []Edge
		for _, c := range st.Choices {
			out = append(out, Edge{name, c.Next, "choice"})
		}
		if st.Default != "" {
			out = append(out, Edge{name, st.Default, "default"})
		}
		if st.Next != "" {
			out = append(out, Edge{name, st.Next, "next"})
		}
		for _, c := range st.Catch {
			out = append(out, Edge{name, c.Next, "catch"})
		}
		return out
	}
	visit = func(n string) {
		if seen[n] {
			return
		}
		if _, ok := m.States[n]; !ok {
			return
		}
		seen[n] = true
		order = append(order, n)
		for _, e := range succ(n) {
			visit(e.To)
		}
	}
	visit(m.StartAt)
	names := make([]string, 0, len(m.States))
	for n := range m.States {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		visit(n) // unreachable states still show
	}
	// Longest-path layers, bounded so a cycle cannot loop forever.
	layer := map[string]int{m.StartAt: 0}
	for range len(order) + 1 {
		changed := false
		for _, n := range order {
			for _, e := range succ(n) {
				if _, ok := m.States[e.To]; ok && layer[e.To] < layer[n]+1 && layer[n]+1 <= len(order) {
					layer[e.To] = layer[n] + 1
					changed = true
				}
			}
		}
		if !changed {
			break
		}
	}
	// Size each state (a Map holds its processor) and fill rows.
	type box struct {
		name string
		w, h int
		sub  *aslMachine
	}
	rows := map[int][]box{}
	maxLayer := 0
	for _, n := range order {
		st := m.States[n]
		b := box{name: n, w: nodeW, h: nodeH}
		if p := st.ItemProcessor; p != nil {
			b.sub = p
		} else if st.Iterator != nil {
			b.sub = st.Iterator
		}
		if b.sub != nil {
			var tmp Graph
			sw, sh := layoutMachine(&tmp, *b.sub, n, 0, 0)
			b.w, b.h = sw+2*pad, sh+2*pad+nodeH/2
		}
		rows[layer[n]] = append(rows[layer[n]], b)
		maxLayer = max(maxLayer, layer[n])
	}
	width := 0
	for l := 0; l <= maxLayer; l++ {
		w := 0
		for i, b := range rows[l] {
			if i > 0 {
				w += gapX
			}
			w += b.w
		}
		width = max(width, w)
	}
	y := y0
	for l := 0; l <= maxLayer; l++ {
		rowW, rowH := 0, 0
		for i, b := range rows[l] {
			if i > 0 {
				rowW += gapX
			}
			rowW += b.w
			rowH = max(rowH, b.h)
		}
		x := x0 + (width-rowW)/2
		for _, b := range rows[l] {
			st := m.States[b.name]
			g.Nodes = append(g.Nodes, Node{Name: b.name, Type: st.Type, Parent: parent, X: x, Y: y, W: b.w, H: b.h, Frame: b.sub != nil})
			if b.sub != nil {
				layoutMachine(g, *b.sub, b.name, x+pad, y+pad+nodeH/2)
			}
			x += b.w + gapX
		}
		y += rowH + gapY
	}
	for _, n := range order {
		for _, e := range succ(n) {
			if _, ok := m.States[e.To]; ok {
				g.Edges = append(g.Edges, e)
			}
		}
	}
	return width, y - y0 - gapY
}
