package infra_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mailflow/mailflow/delivery/dynamodelivery"
	"github.com/mailflow/mailflow/infra"
)

// The table the stack deploys has the index the adapter queries.
func TestDeadLetterIndexMatchesTheAdapter(t *testing.T) {
	for _, c := range [][2]string{
		{infra.DeadLetterIndexName, dynamodelivery.DeadLetterIndexName},
		{infra.DeadLetterIndexShardKey, dynamodelivery.AttrDeadLetterShard},
		{infra.DeadLetterIndexSortKey, dynamodelivery.AttrDeadLetterKey},
	} {
		if c[0] != c[1] {
			t.Errorf("infra names %q, the adapter %q", c[0], c[1])
		}
	}
}

// checkFeedback checks the delivery-feedback resources: the configuration
// set (created unless one is configured) and its EventBridge destination,
// the rule from the default bus to the events queue with its retry and
// dead-letter queue, the queue policies that admit only that rule, the
// event source mapping of record-event and the outcome bus.
func checkFeedback(t *testing.T, s *synthesized, id ids) {
	t.Helper()
	sets := s.resources("AWS::SES::ConfigurationSet")
	if s.cfg.SES.ConfigurationSet != "" {
		if len(sets) != 0 {
			t.Errorf("%d configuration sets created although %q is configured", len(sets), s.cfg.SES.ConfigurationSet)
		}
		equalJSON(t, "configuration set name", id.configSet, s.cfg.SES.ConfigurationSet)
	} else {
		if len(sets) != 1 {
			t.Fatalf("%d configuration sets, want the one the stack creates", len(sets))
		}
		for setID, set := range sets {
			equalJSON(t, "configuration set name", id.configSet, ref(setID))
			equalJSON(t, "configuration set", props(set), map[string]any{
				"Name":               s.cfg.StackName + "-Mail",
				"SuppressionOptions": map[string]any{"SuppressedReasons": []any{"BOUNCE", "COMPLAINT"}},
				"ReputationOptions":  map[string]any{"ReputationMetricsEnabled": true},
				"SendingOptions":     map[string]any{"SendingEnabled": true},
			})
		}
	}

	_, dest := s.one(t, "AWS::SES::ConfigurationSetEventDestination")
	equalJSON(t, "event destination", props(dest), map[string]any{
		"ConfigurationSetName": id.configSet,
		"EventDestination": map[string]any{
			"Enabled":                true,
			"MatchingEventTypes":     []any{"SEND", "DELIVERY", "BOUNCE", "COMPLAINT", "REJECT", "DELIVERY_DELAY", "RENDERING_FAILURE"},
			"EventBridgeDestination": at(dest, "Properties", "EventDestination", "EventBridgeDestination"),
		},
	})
	// SES publishes to the default bus of the stack's account and region.
	bus := flatten(at(dest, "Properties", "EventDestination", "EventBridgeDestination", "EventBusArn"))
	if want := strings.Replace(sesARN(s, "event-bus/default"), ":ses:", ":events:", 1); bus != want {
		t.Errorf("event destination bus %s, want %s", bus, want)
	}

	rule := props(s.resources("AWS::Events::Rule")[id.rule])
	if _, ok := rule["EventBusName"]; ok {
		t.Errorf("rule on bus %v, want the default bus SES publishes to", rule["EventBusName"])
	}
	equalJSON(t, "rule pattern", rule["EventPattern"], map[string]any{
		"source": []any{"aws.ses"},
		"detail": map[string]any{"mail": map[string]any{"tags": map[string]any{"ses:configuration-set": []any{id.configSet}}}},
	})
	equalJSON(t, "rule state", rule["State"], "ENABLED")
	equalJSON(t, "rule targets", rule["Targets"], []any{map[string]any{
		"Id":               "EventsQueue",
		"Arn":              getAtt(id.events, "Arn"),
		"DeadLetterConfig": map[string]any{"Arn": getAtt(id.eventsDLQ, "Arn")},
		"RetryPolicy":      map[string]any{"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400},
	}})
	// Each queue admits EventBridge for this rule only, and nothing else
	// besides the TLS Deny.
	for _, q := range []string{id.events, id.eventsDLQ} {
		var found int
		for polID, pol := range s.resources("AWS::SQS::QueuePolicy") {
			p := props(pol)
			if mustJSON(p["Queues"]) != mustJSON([]any{ref(q)}) {
				continue
			}
			for _, raw := range at(p, "PolicyDocument", "Statement").([]any) {
				st := raw.(map[string]any)
				if st["Effect"] == "Deny" {
					continue
				}
				found++
				want := map[string]any{
					"Sid": st["Sid"], "Effect": "Allow", "Action": "sqs:SendMessage",
					"Principal": map[string]any{"Service": "events.amazonaws.com"},
					"Resource":  getAtt(q, "Arn"),
					"Condition": map[string]any{"ArnEquals": map[string]any{"aws:SourceArn": getAtt(id.rule, "Arn")}},
				}
				equalJSON(t, fmt.Sprintf("%s allow", polID), st, want)
			}
		}
		if found != 1 {
			t.Errorf("queue %s: %d Allow statements, want EventBridge's for the rule", q, found)
		}
	}

	_, esm := s.one(t, "AWS::Lambda::EventSourceMapping")
	equalJSON(t, "event source mapping", props(esm), map[string]any{
		"FunctionName":                   ref(id.fn[infra.TaskRecordEvent]),
		"EventSourceArn":                 getAtt(id.events, "Arn"),
		"BatchSize":                      10,
		"MaximumBatchingWindowInSeconds": 1,
		"FunctionResponseTypes":          []any{"ReportBatchItemFailures"},
		"ScalingConfig":                  map[string]any{"MaximumConcurrency": 5},
	})
	// Lambda checks the role's access when the mapping is created.
	deps := fmt.Sprint(esm["DependsOn"])
	for polID := range s.policiesOf(id.fnRole[infra.TaskRecordEvent]) {
		if !strings.Contains(deps, polID) {
			t.Errorf("event source mapping does not depend on %s (DependsOn %s)", polID, deps)
		}
	}

	outcomeBus := props(s.resources("AWS::Events::EventBus")[id.bus])
	equalJSON(t, "outcome bus name", outcomeBus["Name"], s.cfg.StackName+"-Mail-outcomes")
	outputs, _ := s.doc["Outputs"].(map[string]any)
	equalJSON(t, "outcome bus output", at(outputs, "OutcomeBusArn", "Value"), getAtt(id.bus, "Arn"))
	if d, _ := at(outputs, "OutcomeBusArn", "Description").(string); !strings.Contains(d, `"mailflow"`) || !strings.Contains(d, `"mailflow.outcome"`) {
		t.Errorf("outcome bus output description %q does not name the source and detail-type", d)
	}
}
