package infra

import (
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

// PipelineRegions are the regions that offer everything the pipeline
// needs: EventBridge Pipes, SES v2 (sending and configuration-set event
// destinations to EventBridge) and Express Step Functions with
// StartSyncExecution. Pipes is the narrowest of them. The list is AWS's
// regional services table for the commercial partition when this
// aws-cdk-lib version was current; a region AWS adds later is added here.
var PipelineRegions = []string{
	"af-south-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1",
	"ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ca-central-1", "eu-central-1",
	"eu-north-1", "eu-south-1", "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1",
	"me-south-1", "sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2",
}

// ChatbotRegions are the regions a Chatbot Slack channel configuration can
// be created in, needed only when chatbot is configured.
var ChatbotRegions = []string{
	"ap-northeast-1", "ap-northeast-2", "ap-south-1", "ap-southeast-1", "ap-southeast-2",
	"ca-central-1", "eu-central-1", "eu-north-1", "eu-west-1", "eu-west-2", "eu-west-3",
	"sa-east-1", "us-east-1", "us-east-2", "us-west-2",
}

// supportedRegions is what a stack needs, with or without Chatbot.
func supportedRegions(chatbot bool) []string {
	if !chatbot {
		return PipelineRegions
	}
	var out []string
	for _, r := range PipelineRegions {
		if slices.Contains(ChatbotRegions, r) {
			out = append(out, r)
		}
	}
	return out
}

// checkRegion refuses a stack pinned to a region that lacks a service the
// pipeline needs, before anything is synthesized, naming the service. An
// environment-agnostic stack is checked at deploy time instead
// (addRegionRule).
func checkRegion(stack awscdk.Stack, chatbot bool) error {
	region := *stack.Region()
	if *awscdk.Token_IsUnresolved(jsii.String(region)) {
		return nil
	}
	if !slices.Contains(PipelineRegions, region) {
		return fmt.Errorf("region %q does not offer every service the pipeline needs (EventBridge Pipes, SES v2, Express Step Functions); use one of %s",
			region, strings.Join(PipelineRegions, ", "))
	}
	if chatbot && !slices.Contains(ChatbotRegions, region) {
		return fmt.Errorf("region %q has no AWS Chatbot; remove chatbot from the configuration or use one of %s",
			region, strings.Join(supportedRegions(true), ", "))
	}
	return nil
}

// addRegionRule makes CloudFormation refuse, before it creates anything, a
// deployment of an environment-agnostic stack to a region without the
// services (a template Rules assertion).
func (p *mailPipeline) addRegionRule() {
	stack := awscdk.Stack_Of(p.Construct)
	if !*awscdk.Token_IsUnresolved(stack.Region()) {
		return
	}
	regions := supportedRegions(p.cfg.Chatbot != nil)
	awscdk.NewCfnRule(p.Construct, jsii.String("SupportedRegion"), &awscdk.CfnRuleProps{
		Assertions: &[]*awscdk.CfnRuleAssertion{{
			Assert: awscdk.Fn_ConditionContains(jsii.Strings(regions...), awscdk.Aws_REGION()),
			AssertDescription: jsii.String("mailflow needs EventBridge Pipes, SES v2 and Express Step Functions" +
				map[bool]string{true: " and AWS Chatbot", false: ""}[p.cfg.Chatbot != nil] +
				" in the deployment region: deploy to one of " + strings.Join(regions, ", ")),
		}},
	})
}
