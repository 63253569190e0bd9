package infra

import (
	"fmt"

	"github.com/mailflow/mailflow/infra/config"
	"github.com/mailflow/mailflow/workflow"
)

// renderDefinition returns the state-machine definition for cfg with its
// ${...} placeholders left in place for CDK's DefinitionSubstitutions.
//
// workflow.Render applies the Map concurrency and checks that exactly the
// definition's placeholders are given; substituting each placeholder with
// itself keeps them for CloudFormation to fill with the deployed ARNs, and
// the configured throttle retry budget replaces the definition's.
func renderDefinition(cfg *config.Config) (string, error) {
	self := map[string]string{}
	for _, name := range workflow.Placeholders() {
		self[name] = "${" + name + "}"
	}
	b, err := workflow.Render(workflow.Settings{
		Substitutions:   self,
		MapConcurrency:  cfg.Workflow.MapConcurrency,
		MaxReceiveCount: cfg.Queue.MaxReceiveCount,
		ThrottleRetry: &workflow.RetryBudget{
			MaxAttempts:     cfg.Workflow.ThrottleRetry.MaxAttempts,
			MaxDelaySeconds: cfg.Workflow.ThrottleRetry.MaxDelaySeconds,
		},
	})
	if err != nil {
		return "", fmt.Errorf("render definition: %w", err)
	}
	return string(b), nil
}
