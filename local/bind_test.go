package local

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
)

// TestBindConcurrent: the Map state runs iterations concurrently, so a
// bound task is invoked from many goroutines at once. Each invocation must
// get its own output: aws-lambda-go's handler returns bytes of a pooled
// buffer that it hands to the next invocation once Invoke returns, and
// sharing that handler mixed up the results of parallel records (one
// mail's lock or staged message answered for another's).
func TestBindConcurrent(t *testing.T) {
	t.Parallel()
	type msg struct {
		N    int    `json:"n"`
		Text string `json:"text"`
	}
	h := bind(func(_ context.Context, in msg) (msg, error) { return in, nil })
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				n := g*1000 + i
				in, _ := json.Marshal(msg{N: n, Text: fmt.Sprintf("record-%06d", n)})
				out, err := h.Invoke(context.Background(), in)
				if err != nil {
					errs <- err
					return
				}
				var got msg
				if err := json.Unmarshal(out, &got); err != nil || got.N != n {
					errs <- fmt.Errorf("invocation %d answered %s (%v)", n, out, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
