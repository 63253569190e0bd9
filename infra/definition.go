package infra

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/mailflow/mailflow/infra/config"
	"github.com/mailflow/mailflow/workflow"
)

// renderDefinition returns the state-machine definition for cfg with its
// ${...} placeholders left in place for CDK's DefinitionSubstitutions.
//
// workflow.Render applies the Map concurrency and checks that exactly the
// definition's placeholders are given; substituting each placeholder with
// itself keeps them for CloudFormation to fill with the deployed ARNs. The
// throttle retry budget is then applied to every retrier that matches
// Mail.Throttled.
func renderDefinition(cfg *config.Config) (string, error) {
	self := map[string]string{}
	for _, name := range workflow.Placeholders() {
		self[name] = "${" + name + "}"
	}
	b, err := workflow.Render(workflow.Settings{Substitutions: self, MapConcurrency: cfg.Workflow.MapConcurrency})
	if err != nil {
		return "", fmt.Errorf("render definition: %w", err)
	}
	b, err = applyRetryBudget(b, workflow.Throttled, cfg.Workflow.ThrottleRetry)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// applyRetryBudget sets MaxAttempts and MaxDelaySeconds of every retrier
// whose ErrorEquals lists errorName. It fails when there is none, so a
// change of the definition cannot silently drop the configured budget.
func applyRetryBudget(def []byte, errorName string, budget config.RetryBudget) ([]byte, error) {
	var doc any
	dec := json.NewDecoder(bytes.NewReader(def))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("retry budget: definition: %w", err)
	}
	n := 0
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if retry, ok := x["Retry"].([]any); ok {
				for _, r := range retry {
					rm, ok := r.(map[string]any)
					if !ok {
						continue
					}
					names, _ := rm["ErrorEquals"].([]any)
					if slices.Contains(names, any(errorName)) {
						rm["MaxAttempts"] = budget.MaxAttempts
						rm["MaxDelaySeconds"] = budget.MaxDelaySeconds
						n++
					}
				}
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(doc)
	if n == 0 {
		return nil, fmt.Errorf("retry budget: the definition has no retrier for %s", errorName)
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
