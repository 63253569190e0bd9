package cli

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// localClients are SDK clients for the local runtime's endpoint.
func localClients(endpoint, region string) (*sqs.Client, *s3.Client) {
	creds := credentials.NewStaticCredentialsProvider("local", "local", "")
	return sqs.New(sqs.Options{Region: region, BaseEndpoint: aws.String(endpoint), Credentials: creds}),
		s3.New(s3.Options{Region: region, BaseEndpoint: aws.String(endpoint), UsePathStyle: true, Credentials: creds})
}
