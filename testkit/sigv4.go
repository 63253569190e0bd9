package testkit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// LocalCredentials are the credentials the repository's clients of the
// local endpoint sign with.
var LocalCredentials = aws.Credentials{AccessKeyID: "local", SecretAccessKey: "local"}

// SignV4 signs a hand-built request with SigV4 for service in us-east-1
// at the current time, as an SDK would (S3: with X-Amz-Content-Sha256),
// so raw requests reach an endpoint that accepts only signed ones. The
// body is read, hashed and put back.
func SignV4(req *http.Request, creds aws.Credentials, service string) error {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return err
		}
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	if service == "s3" {
		req.Header.Set("X-Amz-Content-Sha256", hash)
	}
	return v4.NewSigner().SignHTTP(context.Background(), creds, req, hash, service, "us-east-1", time.Now(),
		func(o *v4.SignerOptions) { o.DisableURIPathEscaping = service == "s3" })
}
