package cli

import (
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// localClients are SDK clients for the local runtime's endpoint, signing
// with the credentials `mailflow dev` verifies when the environment gives
// them (MAILFLOW_ACCESS_KEY_ID, MAILFLOW_SECRET_ACCESS_KEY), else with
// "local"/"local", which an endpoint without credentials accepts.
func localClients(endpoint, region string) (*sqs.Client, *s3.Client) {
	key, secret := "local", "local"
	if k, s := os.Getenv(envAccessKey), os.Getenv(envSecretKey); k != "" && s != "" {
		key, secret = k, s
	}
	return localClientsWith(endpoint, region, key, secret)
}

// localClientsWith are SDK clients for the local endpoint signing with the
// given credentials.
func localClientsWith(endpoint, region, key, secret string) (*sqs.Client, *s3.Client) {
	creds := credentials.NewStaticCredentialsProvider(key, secret, "")
	return sqs.New(sqs.Options{Region: region, BaseEndpoint: aws.String(endpoint), Credentials: creds}),
		s3.New(s3.Options{Region: region, BaseEndpoint: aws.String(endpoint), UsePathStyle: true, Credentials: creds})
}
