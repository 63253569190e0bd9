package conformance

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"time"

	"github.com/mailflow/mailflow/asl"
)

// ChoiceRow is one row of a choice-cases matrix.
type ChoiceRow struct {
	ID      string // "<matrix id>#<n>"
	Outcome Outcome
}

// RunChoiceCases runs every row of dir/choice-cases/*.json, comparing
// status and output only.
func RunChoiceCases(dir string) ([]ChoiceRow, error) {
	files, err := filepath.Glob(filepath.Join(dir, "choice-cases", "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var out []ChoiceRow
	for _, f := range files {
		v, err := readJSON(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		m, _ := v.(map[string]any)
		id, _ := m["id"].(string)
		rows, _ := m["rows"].([]any)
		for _, r := range rows {
			rm, _ := r.(map[string]any)
			out = append(out, ChoiceRow{ID: fmt.Sprintf("%s#%v", id, rm["n"]), Outcome: runRow(rm)})
		}
	}
	return out, nil
}

func runRow(row map[string]any) Outcome {
	defB, err := asl.EncodeJSON(row["definition"])
	if err != nil {
		return Outcome{Diff: err.Error()}
	}
	d, err := asl.Parse(defB)
	if err != nil {
		return Outcome{Diff: "parse: " + err.Error()}
	}
	if err := asl.Validate(d).Err(); err != nil {
		return Outcome{Diff: "validate: " + err.Error()}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := asl.Execute(ctx, d, row["input"], NewOptions(asl.NewRegistry()))
	if err != nil {
		return Outcome{Diff: "execute: " + err.Error()}
	}
	exp := parseExpected(row["expected"])
	exp.NoHist = true
	if d := compareResult(exp, res, newWildcards(nil)); d != "" {
		return Outcome{Diff: d}
	}
	return Outcome{Pass: true}
}
