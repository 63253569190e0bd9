package tasktest

// AWSEnv is the environment that points a Lambda child process's SDK at the
// emulators: fixed credentials, one attempt per call, and the given service
// endpoints ("dynamodb", "s3", "sesv2" → URL).
func AWSEnv(endpoints map[string]string) []string {
	env := []string{
		"AWS_ACCESS_KEY_ID=AKIDTEST", "AWS_SECRET_ACCESS_KEY=secret", "AWS_SESSION_TOKEN=",
		"AWS_REGION=us-east-1", "AWS_MAX_ATTEMPTS=1", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PROFILE=",
	}
	names := map[string]string{"dynamodb": "AWS_ENDPOINT_URL_DYNAMODB", "s3": "AWS_ENDPOINT_URL_S3", "sesv2": "AWS_ENDPOINT_URL_SESV2", "sqs": "AWS_ENDPOINT_URL_SQS"}
	for svc, url := range endpoints {
		env = append(env, names[svc]+"="+url)
	}
	return env
}
