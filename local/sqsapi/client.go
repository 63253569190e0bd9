package sqsapi

import (
	"net/http"
	"net/http/httptest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/mailflow/mailflow/local/sqsstore"
)

// Client is an SQS client for a queue store opened in this process: the
// requests go through this package's handler in memory, so code written
// for the SQS API serves AWS and the local runtime alike.
func Client(store *sqsstore.Store, baseURL, region string) *sqs.Client {
	h := New(store, Options{BaseURL: baseURL})
	return sqs.New(sqs.Options{
		Region: region, BaseEndpoint: aws.String(baseURL),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
		HTTPClient:  &http.Client{Transport: handlerTransport{h}},
	})
}

type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, req.WithContext(req.Context()))
	res := rec.Result()
	res.Request = req
	return res, nil
}
