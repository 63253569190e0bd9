package sqsapi_test

import (
	"context"
	"net"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/mailflow/mailflow/local/sqsapi"
	"github.com/mailflow/mailflow/local/sqsstore"
)

func TestListenDefaultsToLoopback(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"", ":0"} {
		ln, err := sqsapi.Listen(addr)
		if err != nil {
			t.Fatal(err)
		}
		ip := ln.Addr().(*net.TCPAddr).IP
		ln.Close()
		if !ip.IsLoopback() {
			t.Fatalf("Listen(%q) bound %v, want loopback", addr, ip)
		}
	}
}

func TestServeOverListener(t *testing.T) {
	t.Parallel()
	s, err := sqsstore.Open(filepath.Join(t.TempDir(), "q.db"), sqsstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ln, err := sqsapi.Listen("")
	if err != nil {
		t.Fatal(err)
	}
	srv := sqsapi.NewServer(sqsapi.New(s, sqsapi.Options{}))
	go srv.Serve(ln)
	defer srv.Close()
	c := newClient("http://"+ln.Addr().String(), nil)
	out, err := c.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String("served")})
	if err != nil {
		t.Fatal(err)
	}
	if want := "http://" + ln.Addr().String() + "/000000000000/served"; *out.QueueUrl != want {
		t.Fatalf("QueueUrl %s, want %s", *out.QueueUrl, want)
	}
}

func TestQueueNameFromURL(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		url, name string
		ok        bool
	}{
		{"http://127.0.0.1:4566/000000000000/mail", "mail", true},
		{"https://sqs.us-east-1.amazonaws.com/000000000000/mail-dlq", "mail-dlq", true},
		{"http://127.0.0.1:4566/123456789012/mail", "", false},
		{"http://127.0.0.1:4566/mail", "", false},
		{"http://127.0.0.1:4566/000000000000/", "", false},
	} {
		name, ok := sqsapi.QueueNameFromURL(c.url, "000000000000")
		if name != c.name || ok != c.ok {
			t.Errorf("QueueNameFromURL(%q) = %q, %v", c.url, name, ok)
		}
	}
}
