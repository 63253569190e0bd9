// Command app is the mailflow CDK app: it builds one stack, described by a
// configuration file (see package infra/config), with the task code from
// the zips `make lambdas` writes.
//
// The configuration file is the CDK context value "config" (`npx cdk
// deploy -c config=mailflow.json`) or, failing that, the environment
// variable MAILFLOW_CONFIG; there is deliberately no default, so the
// example configuration is never deployed by accident. The zips are read
// from the context value "lambdaDir" (default build/lambda).
//
// Run by the CDK CLI (cdk.json) or directly with CDK_OUTDIR set, as
// `make synth` does: synthesis needs no AWS credentials and no network.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/mailflow/mailflow/infra"
	"github.com/mailflow/mailflow/infra/config"
)

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
	if raw := os.Getenv("CDK_CONTEXT_JSON"); raw != "" {
		if err := json.Unmarshal([]byte(raw), &context); err != nil {
			return fmt.Errorf("CDK_CONTEXT_JSON: %w", err)
		}
	}
	props := &awscdk.AppProps{Context: &context}
	if dir := os.Getenv("CDK_OUTDIR"); dir != "" {
		props.Outdir = jsii.String(dir)
	}
	path, _ := context["config"].(string)
	if path == "" {
		path = os.Getenv("MAILFLOW_CONFIG")
	}
	if path == "" {
		return fmt.Errorf("no configuration: pass -c config=<file.json> (or set MAILFLOW_CONFIG); infra/mailflow.example.json shows every field")
	}
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	dir, _ := context["lambdaDir"].(string)
	if dir == "" {
		dir = "build/lambda"
	}
	code, err := infra.ZipCode(dir)
	if err != nil {
		return err
	}
	app := awscdk.NewApp(props)
	if _, _, err := infra.NewMailflowStack(app, &infra.MailflowStackProps{Config: cfg, Code: code}); err != nil {
		return err
	}
	app.Synth(nil)
	return nil
}
