package infra

import (
	"encoding/json"
	"fmt"
	"os"
)

// CdkJSONContext returns the "context" of a cdk.json: the feature flags
// and defaults the CDK CLI passes the app. The app and the tests apply them
// too when they run without the CLI, so that `make synth`, the tests and
// `cdk deploy` synthesize the same template.
func CdkJSONContext(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if doc.Context == nil {
		return nil, fmt.Errorf("%s has no context", path)
	}
	return doc.Context, nil
}
