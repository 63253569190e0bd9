package asl

import "strings"

// optimizedIntegrations are the arn:aws:states::: service integrations AWS
// recognises (service:action), without the .sync/.waitForTaskToken suffix.
// Other services are reached through aws-sdk:SERVICE:ACTION.
var optimizedIntegrations = map[string]bool{
	"lambda:invoke":    true,
	"sqs:sendMessage":  true,
	"sns:publish":      true,
	"dynamodb:getItem": true, "dynamodb:putItem": true, "dynamodb:updateItem": true, "dynamodb:deleteItem": true,
	"states:startExecution": true,
	"events:putEvents":      true,
	"ecs:runTask":           true,
	"batch:submitJob":       true,
	"glue:startJobRun":      true, "glue:startCrawler": true,
	"athena:startQueryExecution": true, "athena:stopQueryExecution": true, "athena:getQueryExecution": true, "athena:getQueryResults": true,
	"codebuild:startBuild": true, "codebuild:stopBuild": true, "codebuild:batchDeleteBuilds": true, "codebuild:batchGetReports": true,
	"elasticmapreduce:createCluster": true, "elasticmapreduce:terminateCluster": true, "elasticmapreduce:addStep": true,
	"elasticmapreduce:cancelStep": true, "elasticmapreduce:setClusterTerminationProtection": true,
	"elasticmapreduce:modifyInstanceFleetByName": true, "elasticmapreduce:modifyInstanceGroupByName": true,
	"emr-containers:startJobRun": true, "emr-containers:createVirtualCluster": true, "emr-containers:deleteVirtualCluster": true,
	"emr-serverless:createApplication": true, "emr-serverless:startApplication": true, "emr-serverless:stopApplication": true,
	"emr-serverless:deleteApplication": true, "emr-serverless:startJobRun": true, "emr-serverless:cancelJobRun": true,
	"sagemaker:createTrainingJob": true, "sagemaker:createTransformJob": true, "sagemaker:createModel": true,
	"sagemaker:createEndpoint": true, "sagemaker:createEndpointConfig": true, "sagemaker:updateEndpoint": true,
	"sagemaker:createHyperParameterTuningJob": true, "sagemaker:createLabelingJob": true, "sagemaker:createProcessingJob": true,
	"apigateway:invoke": true,
	"eks:createCluster": true, "eks:deleteCluster": true, "eks:createNodegroup": true, "eks:deleteNodegroup": true,
	"eks:runJob": true, "eks:call": true, "eks:createFargateProfile": true, "eks:deleteFargateProfile": true,
	"glue:startDataBrewJobRun": true, "databrew:startJobRun": true,
	"bedrock:invokeModel": true, "bedrock:createModelCustomizationJob": true,
	"http:invoke":               true,
	"mediaconvert:createJob":    true,
	"states:startSyncExecution": true,
}

// knownServiceResource reports whether an arn:aws:states::: resource names
// an integration AWS accepts.
func knownServiceResource(info resourceInfo) bool {
	if strings.HasPrefix(info.service, "aws-sdk:") {
		return info.action != ""
	}
	action := info.action
	for _, suf := range []string{".sync:2", ".sync", ".waitForTaskToken"} {
		action = strings.TrimSuffix(action, suf)
	}
	return optimizedIntegrations[info.service+":"+action]
}
