package gateway_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/mailflow/mailflow/local/gateway"
	"github.com/mailflow/mailflow/local/s3local"
)

// TestRoutesSDKClients sends real SDK requests through the router and checks
// each reaches its service.
func TestRoutesSDKClients(t *testing.T) {
	t.Parallel()
	var sqsHits atomic.Int32
	sqsEndpoint := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sqsHits.Add(1)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"no queue"}`))
	})
	s3srv, err := s3local.Open(t.TempDir(), "bucket-1")
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(gateway.Router{SQS: sqsEndpoint, S3: s3srv})
	defer hs.Close()
	creds := credentials.NewStaticCredentialsProvider("local", "local", "")
	ctx := context.Background()

	s3c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(hs.URL), UsePathStyle: true, Credentials: creds})
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bucket-1"), Key: aws.String("k"), Body: strings.NewReader("v")}); err != nil {
		t.Fatalf("S3 through the router: %v", err)
	}
	sqsc := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(hs.URL), Credentials: creds})
	_, err = sqsc.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("q")})
	if err == nil || !strings.Contains(err.Error(), "QueueDoesNotExist") {
		t.Fatalf("SQS through the router: %v", err)
	}
	if sqsHits.Load() == 0 {
		t.Fatal("the SQS request did not reach the SQS endpoint")
	}
}

func TestServiceOfUnsigned(t *testing.T) {
	t.Parallel()
	form := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(url.Values{"Action": {"ListQueues"}}.Encode()))
	form.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	target := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("{}"))
	target.Header.Set("X-Amz-Target", "AmazonSQS.ListQueues")
	for name, tc := range map[string]struct {
		r    *http.Request
		want string
	}{
		"query form":    {form, gateway.ServiceSQS},
		"query GET":     {httptest.NewRequest(http.MethodGet, "/?Action=ListQueues", nil), gateway.ServiceSQS},
		"json target":   {target, gateway.ServiceSQS},
		"s3 get":        {httptest.NewRequest(http.MethodGet, "/bucket/key", nil), gateway.ServiceS3},
		"presigned s3":  {httptest.NewRequest(http.MethodGet, "/b/k?X-Amz-Credential=AK%2F20261125%2Fus-east-1%2Fs3%2Faws4_request", nil), gateway.ServiceS3},
		"presigned sqs": {httptest.NewRequest(http.MethodGet, "/?X-Amz-Credential=AK%2F20261125%2Fus-east-1%2Fsqs%2Faws4_request", nil), gateway.ServiceSQS},
	} {
		if got := gateway.ServiceOf(tc.r); got != tc.want {
			t.Errorf("%s: ServiceOf = %q, want %q", name, got, tc.want)
		}
	}
}

func TestUnknownServiceIsRefused(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/", nil)
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AK/20261125/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x")
	w := httptest.NewRecorder()
	gateway.Router{}.ServeHTTP(w, r)
	if w.Code != http.StatusNotImplemented {
		t.Fatalf("status %d", w.Code)
	}
}
