package intrinsic

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

var segRe = regexp.MustCompile(`^(?:\.([A-Za-z0-9_]+)|\[(\d+)\]|\['([^']*)'\])`)

// testPath is the small JSONPath subset the corpus cases use.
func testPath(root any, p string) (any, error) {
	if !strings.HasPrefix(p, "$") {
		return nil, fmt.Errorf("bad path %q", p)
	}
	cur := root
	rest := p[1:]
	for rest != "" {
		m := segRe.FindStringSubmatch(rest)
		if m == nil {
			return nil, fmt.Errorf("unsupported path %q", p)
		}
		rest = rest[len(m[0]):]
		switch {
		case m[2] != "":
			a, ok := cur.([]any)
			i, _ := strconv.Atoi(m[2])
			if !ok || i >= len(a) {
				return nil, fmt.Errorf("no %s", p)
			}
			cur = a[i]
		default:
			key := m[1] + m[3]
			o, ok := cur.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("no %s", p)
			}
			v, ok := o[key]
			if !ok {
				return nil, fmt.Errorf("no %s", p)
			}
			cur = v
		}
	}
	return cur, nil
}
