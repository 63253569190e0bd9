package conformance

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/mailflow/mailflow/asl"
)

// bareTokens are redaction placeholders that match any value when they are
// the whole expected string.
var bareTokens = map[string]bool{
	"timestamp": true, "date": true, "RequestId": true, "x-amzn-RequestId": true,
	"X-Amzn-Trace-Id": true, "snf_role_arn": true, "sfn_role_arn": true, "start-time": true,
	"entered-time": true, "RandomNumberGenerated": true,
}

var tokenRe = regexp.MustCompile(`<[A-Za-z0-9_.:-]+>`)

type wildcards struct {
	bare map[string]bool
}

func newWildcards(list []string) *wildcards {
	w := &wildcards{bare: map[string]bool{}}
	for k := range bareTokens {
		w.bare[k] = true
	}
	for _, s := range list {
		if !strings.HasPrefix(s, "<") {
			w.bare[s] = true
		}
	}
	return w
}

// matchString compares an expected string (possibly with placeholders) to
// an actual one.
func (w *wildcards) matchString(exp, got string) bool {
	if exp == got || w.bare[exp] {
		return true
	}
	if !strings.Contains(exp, "<") {
		return false
	}
	locs := tokenRe.FindAllStringIndex(exp, -1)
	if len(locs) == 0 {
		return false
	}
	var b strings.Builder
	b.WriteString("^")
	last := 0
	for _, l := range locs {
		b.WriteString(regexp.QuoteMeta(exp[last:l[0]]))
		b.WriteString("(?s:.+?)")
		last = l[1]
	}
	b.WriteString(regexp.QuoteMeta(exp[last:]))
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return false
	}
	return re.MatchString(got)
}

func (w *wildcards) match(exp any, got any) bool {
	return w.diff("", exp, got) == ""
}

// diff returns "" when got matches exp, else a description of the first
// difference.
func (w *wildcards) diff(path string, exp, got any) string {
	switch e := exp.(type) {
	case string:
		if e != "" && w.bare[e] {
			return ""
		}
		g, ok := got.(string)
		if !ok {
			return fmt.Sprintf("%s: want %q, got %s", path, trunc(e), short(got))
		}
		if !w.matchString(e, g) {
			return fmt.Sprintf("%s: want %q, got %q", path, trunc(e), trunc(g))
		}
		return ""
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: want object, got %s", path, short(got))
		}
		keys := make([]string, 0, len(e))
		for k := range e {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			gv, ok := g[k]
			if !ok {
				return fmt.Sprintf("%s.%s: missing", path, k)
			}
			if k == "cause" && strings.HasPrefix(path, "events") {
				// rule 5: a parsed expected cause is compared with ours parsed
				gs, isStr := gv.(string)
				if _, expStr := e[k].(string); !expStr && isStr {
					if d := w.diffCause(e[k], gs); d != "" {
						return path + "." + d
					}
					continue
				}
			}
			if d := w.diff(path+"."+k, e[k], gv); d != "" {
				return d
			}
		}
		for k := range g {
			if _, ok := e[k]; !ok {
				return fmt.Sprintf("%s.%s: unexpected (%s)", path, k, short(g[k]))
			}
		}
		return ""
	case []any:
		g, ok := got.([]any)
		if !ok {
			return fmt.Sprintf("%s: want array, got %s", path, short(got))
		}
		if len(e) != len(g) {
			return fmt.Sprintf("%s: want %d items, got %d (%s)", path, len(e), len(g), short(got))
		}
		for i := range e {
			if d := w.diff(fmt.Sprintf("%s[%d]", path, i), e[i], g[i]); d != "" {
				return d
			}
		}
		return ""
	case json.Number:
		if !numEqual(e, got) {
			return fmt.Sprintf("%s: want %s, got %s", path, e, short(got))
		}
		return ""
	case nil:
		if got != nil {
			return fmt.Sprintf("%s: want null, got %s", path, short(got))
		}
		return ""
	case bool:
		if g, ok := got.(bool); !ok || g != e {
			return fmt.Sprintf("%s: want %v, got %s", path, e, short(got))
		}
		return ""
	}
	return fmt.Sprintf("%s: unsupported expected value %T", path, exp)
}

func numEqual(a json.Number, got any) bool {
	var g json.Number
	switch x := got.(type) {
	case json.Number:
		g = x
	case int64:
		g = json.Number(fmt.Sprint(x))
	case int:
		g = json.Number(fmt.Sprint(x))
	case float64:
		g = json.Number(fmt.Sprint(x))
	default:
		return false
	}
	if a == g {
		return true
	}
	ra, ok1 := parseRat(string(a))
	rg, ok2 := parseRat(string(g))
	return ok1 && ok2 && ra.Cmp(rg) == 0
}

// diffCause compares causes: strings as strings, objects and arrays after
// parsing the actual cause as JSON.
func (w *wildcards) diffCause(exp any, got string) string {
	if s, ok := exp.(string); ok {
		if !w.matchString(s, got) {
			return fmt.Sprintf("cause: want %q, got %q", trunc(s), trunc(got))
		}
		return ""
	}
	v, err := asl.DecodeJSON([]byte(got))
	if err != nil {
		return fmt.Sprintf("cause: want JSON, got %q", trunc(got))
	}
	return w.diff("cause", exp, v)
}

// diffMultiset compares two runs of events ignoring order.
func (w *wildcards) diffMultiset(exp, got []any) string {
	used := make([]bool, len(got))
	for _, e := range exp {
		found := false
		for j, g := range got {
			if !used[j] && w.diff("events", e, g) == "" {
				used[j], found = true, true
				break
			}
		}
		if !found {
			return fmt.Sprintf("no match for %s", short(e))
		}
	}
	return ""
}

func short(v any) string {
	b, err := asl.EncodeJSON(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return trunc(string(b))
}
