// Command anchorcmp puts the asl interpreter's BenchmarkAnchor results beside
// the anchor benchmark's (aws-local-stepfunctions on the same definition,
// inputs and stubs) and prints a Markdown table with the ratios.
//
// Usage: anchorcmp ANCHOR_RESULTS.jsonl GO_BENCH_OUTPUT
//
// The first file is what ../shared/bench/anchor-als/run.sh writes
// (results-*.jsonl in its work directory); the second is the output of
// `go test -run '^$' -bench BenchmarkAnchor -count N ./asl`. Medians are
// taken over every timed run of each side.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

type key struct {
	variant string
	n       int
}

type anchorRow struct {
	Variant                 string    `json:"variant"`
	N                       int       `json:"n"`
	TransitionsPerExecution float64   `json:"transitionsPerExecution"`
	RunsExecPerSec          []float64 `json:"runsExecPerSec"`
	Verified                bool      `json:"verified"`
	Version                 string    `json:"version"`
	Node                    string    `json:"node"`
}

var benchLine = regexp.MustCompile(`^BenchmarkAnchor/variant=(\w+)/n=(\d+)\S*\s+\d+\s+(.*)$`)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: anchorcmp ANCHOR_RESULTS.jsonl GO_BENCH_OUTPUT")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "anchorcmp:", err)
		os.Exit(1)
	}
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func run(anchorFile, goFile string, w io.Writer) error {
	anchor := map[key][]float64{}
	var meta anchorRow
	f, err := os.Open(anchorFile)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var r anchorRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return fmt.Errorf("%s: %v", anchorFile, err)
		}
		if !r.Verified {
			return fmt.Errorf("%s: %s n=%d was not verified", anchorFile, r.Variant, r.N)
		}
		meta = r
		k := key{r.Variant, r.N}
		for _, e := range r.RunsExecPerSec {
			anchor[k] = append(anchor[k], e*r.TransitionsPerExecution)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}

	ours := map[key][]float64{}
	allocs := map[key][]float64{}
	g, err := os.Open(goFile)
	if err != nil {
		return err
	}
	defer g.Close()
	sc = bufio.NewScanner(g)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[2])
		k := key{m[1], n}
		fields := strings.Fields(m[3])
		for i := 0; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				continue
			}
			switch fields[i+1] {
			case "transitions/s":
				ours[k] = append(ours[k], v)
			case "allocs/transition":
				allocs[k] = append(allocs[k], v)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}

	fmt.Fprintf(w, "| variant | N | aws-local-stepfunctions %s (node %s) transitions/s | asl transitions/s | ratio | asl allocs/transition |\n", meta.Version, meta.Node)
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	worst := 0.0
	for _, v := range []string{"ok", "throttle", "mixed"} {
		for _, n := range []int{1, 10, 100} {
			k := key{v, n}
			a, o := median(anchor[k]), median(ours[k])
			if a == 0 || o == 0 {
				return fmt.Errorf("no figures for %s n=%d (anchor %d runs, asl %d runs)", v, n, len(anchor[k]), len(ours[k]))
			}
			ratio := o / a
			if worst == 0 || ratio < worst {
				worst = ratio
			}
			fmt.Fprintf(w, "| %s | %d | %.0f | %.0f | %.1f× | %.1f |\n", v, n, a, o, ratio, median(allocs[k]))
		}
	}
	fmt.Fprintf(w, "\nLowest ratio: %.1f×\n", worst)
	return nil
}
