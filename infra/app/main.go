// Command app is the mailflow CDK app: it builds one stack, described by a
// configuration file (see package infra/config), with the task code from
// the zips `make lambdas` writes.
//
// The configuration file is the CDK context value "config" (`make deploy
// CONFIG=mailflow.json`, or `cdk deploy -c config=mailflow.json`) or,
// failing that, the environment variable MAILFLOW_CONFIG; there is
// deliberately no default, so the example configuration is never deployed
// by accident. The zips are read from the context value "lambdaDir"
// (default build/lambda, as cdk.json also sets it).
//
// Run by the CDK CLI (cdk.json, whose "build" step rebuilds the zips first)
// or directly with CDK_OUTDIR set, as `make synth` does: synthesis needs no
// AWS credentials and no network. Run directly, the app applies cdk.json's
// context (the feature flags) itself, under whatever CDK_CONTEXT_JSON
// sets, so both ways give the same template.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/mailflow/mailflow/infra"
	"github.com/mailflow/mailflow/infra/config"
)

// defaultLambdaDir is where `make lambdas` writes the zips.
const defaultLambdaDir = "build/lambda"

func main() {
	err := run()
	jsii.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mailflow app:", err)
		os.Exit(1)
	}
}

// run reads what the CDK CLI passes through the environment
// (CDK_CONTEXT_JSON, CDK_OUTDIR) in Go and hands it to the App explicitly.
func run() error {
	context := map[string]any{}
	if defaults, err := infra.CdkJSONContext("cdk.json"); err == nil {
		context = defaults
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if raw := os.Getenv("CDK_CONTEXT_JSON"); raw != "" {
		passed := map[string]any{}
		if err := json.Unmarshal([]byte(raw), &passed); err != nil {
			return fmt.Errorf("CDK_CONTEXT_JSON: %w", err)
		}
		for k, v := range passed {
			context[k] = v
		}
	}
	props := &awscdk.AppProps{Context: &context}
	if dir := os.Getenv("CDK_OUTDIR"); dir != "" {
		props.Outdir = jsii.String(dir)
	}
	app := awscdk.NewApp(props)
	path, err := contextString(app, "config", os.Getenv("MAILFLOW_CONFIG"))
	if err != nil {
		return err
	}
	if path == "" {
		return fmt.Errorf("no configuration: pass -c config=<file.json> (or set MAILFLOW_CONFIG); infra/mailflow.example.json shows every field")
	}
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	dir, err := contextString(app, "lambdaDir", defaultLambdaDir)
	if err != nil {
		return err
	}
	code, err := infra.ZipCode(dir)
	if err != nil {
		return err
	}
	if _, _, err := infra.NewMailflowStack(app, &infra.MailflowStackProps{Config: cfg, Code: code}); err != nil {
		return err
	}
	app.Synth(nil)
	return nil
}

// contextString reads a string context value with TryGetContext, def when
// it is unset or empty; any other type is an error naming the key.
func contextString(app awscdk.App, key, def string) (string, error) {
	v := app.Node().TryGetContext(jsii.String(key))
	switch s := v.(type) {
	case nil:
		return def, nil
	case string:
		if s == "" {
			return def, nil
		}
		return s, nil
	default:
		return "", fmt.Errorf("context %q must be a string, not %v", key, v)
	}
}
