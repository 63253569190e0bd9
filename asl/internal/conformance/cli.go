package conformance

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// Main is the aslconf command: it returns the process exit code (0 when
// every case passed, 1 when some failed, 2 on usage errors).
func Main(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("aslconf", flag.ContinueOnError)
	fs.SetOutput(stderr)
	features := fs.Bool("features", false, "print a per-feature pass table")
	run := fs.String("run", "", "only run cases whose id contains this text")
	choice := fs.Bool("choice", false, "also run the choice-cases rows")
	validation := fs.Bool("validation", false, "also check the validation/aws answers")
	sequential := fs.Bool("sequential", false, "run Map iterations and Parallel branches one after the other (Options.Sequential)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: aslconf [-features] [-choice] [-validation] [-sequential] [-run SUBSTRING] DIR")
		return 2
	}
	cases, err := LoadCases(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, "aslconf:", err)
		return 2
	}
	passed := map[string]bool{}
	var ran []*Case
	np, nf := 0, 0
	for _, c := range cases {
		if *run != "" && !strings.Contains(c.ID, *run) {
			continue
		}
		ran = append(ran, c)
		var o Outcome
		if *sequential {
			o = c.RunSequential()
		} else {
			o = c.Run()
		}
		if o.Pass {
			np++
			passed[c.ID] = true
			fmt.Fprintf(stdout, "%s\tpass\n", c.ID)
		} else {
			nf++
			fmt.Fprintf(stdout, "%s\tfail\t%s\n", c.ID, oneLine(o.Diff))
		}
	}
	if *choice {
		rows, err := RunChoiceCases(fs.Arg(0))
		if err != nil {
			fmt.Fprintln(stderr, "aslconf:", err)
			return 2
		}
		for _, r := range rows {
			if *run != "" && !strings.Contains(r.ID, *run) {
				continue
			}
			if r.Outcome.Pass {
				np++
				fmt.Fprintf(stdout, "choice:%s\tpass\n", r.ID)
			} else {
				nf++
				fmt.Fprintf(stdout, "choice:%s\tfail\t%s\n", r.ID, oneLine(r.Outcome.Diff))
			}
		}
	}
	if *validation {
		res, err := RunAWSValidation(fs.Arg(0))
		if err != nil {
			fmt.Fprintln(stderr, "aslconf:", err)
			return 2
		}
		for _, r := range res {
			if *run != "" && !strings.Contains(r.ID, *run) {
				continue
			}
			if r.Matches {
				np++
				fmt.Fprintf(stdout, "validation:%s\tpass\n", r.ID)
			} else {
				nf++
				fmt.Fprintf(stdout, "validation:%s\tfail\tAWS %s, Validate %s: %s\n", r.ID, r.Want, r.Got, oneLine(r.Detail))
			}
		}
	}
	if *features {
		fmt.Fprint(stdout, FeatureTable(ran, passed))
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", np, nf)
	if nf > 0 {
		return 1
	}
	return 0
}

func oneLine(s string) string {
	return strings.ReplaceAll(s, "\n", `\n`)
}
