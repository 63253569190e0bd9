package asl_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailflow/mailflow/asl"
)

// FuzzExecute runs Parse, Validate and, for valid definitions, Execute on
// arbitrary definitions and inputs: no panic, no hang, a known status.
func FuzzExecute(f *testing.F) {
	f.Add([]byte(`{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"x.$":"$.a[0]"},"Next":"B"},"B":{"Type":"Choice","Choices":[{"Variable":"$.x","NumericGreaterThan":1,"Next":"C"}],"Default":"C"},"C":{"Type":"Succeed"}}}`), []byte(`{"a":[2]}`))
	f.Add([]byte(`{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.xs","ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}}}`), []byte(`{"xs":[1,{},null]}`))
	f.Add([]byte(`{"StartAt":"L","States":{"L":{"Type":"Pass","Next":"L"}}}`), []byte(`{}`))
	if dirs, err := filepath.Glob(filepath.Join("..", "..", "shared", "asl-conformance", "cases", "*")); err == nil {
		for i, d := range dirs {
			if i%4 != 0 {
				continue
			}
			def, err1 := os.ReadFile(filepath.Join(d, "definition.json"))
			in, err2 := os.ReadFile(filepath.Join(d, "input.json"))
			if err1 == nil && err2 == nil {
				f.Add(def, in)
			}
		}
	}
	reg := asl.NewRegistry()
	f.Fuzz(func(t *testing.T, def, input []byte) {
		d, err := asl.Parse(def)
		if err != nil {
			return
		}
		issues := asl.Validate(d, asl.WithType("EXPRESS"))
		if issues.Err() != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		opts := asl.Options{Registry: reg, Clock: noPauseClock{}}
		type outcome struct {
			res *asl.Result
			err error
		}
		done := make(chan outcome, 1)
		go func() {
			res, err := asl.Execute(ctx, d, input, opts)
			done <- outcome{res, err}
		}()
		var o outcome
		select {
		case o = <-done:
		case <-time.After(3 * time.Second):
			t.Fatalf("Execute did not return 3s after a 200ms deadline\ndefinition: %s\ninput: %s", def, input)
		}
		res, err := o.res, o.err
		if err != nil {
			return // invalid JSON input
		}
		switch res.Status {
		case asl.StatusSucceeded, asl.StatusFailed, asl.StatusTimedOut, asl.StatusAborted:
		default:
			t.Fatalf("unknown status %q", res.Status)
		}
	})
}
