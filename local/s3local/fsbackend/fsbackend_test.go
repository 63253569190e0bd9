package fsbackend_test

import (
	"encoding/hex"
	"encoding/json"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/johannesboyne/gofakes3"

	"github.com/mailflow/mailflow/local/s3local/fsbackend"
)

// TestReadsAferoLayout: a data directory written by gofakes3's afero
// backend (object file, and its JSON document named by the flattened key
// and its FNV-128a hash, holding every request header) still reads: the
// ETag and headers come from the document, and only the headers S3
// stores are answered.
func TestReadsAferoLayout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const key = "attachments/a.txt"
	obj := filepath.Join(dir, "buckets", "b-1", "attachments", "a.txt")
	if err := os.MkdirAll(filepath.Dir(obj), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(obj, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(obj)
	h := fnv.New128a()
	h.Write([]byte(key))
	metaPath := filepath.Join(dir, "metadata", "b-1", "attachments_a.txt-"+hex.EncodeToString(h.Sum(nil)))
	doc, _ := json.Marshal(map[string]any{
		"File": "", "ModTime": st.ModTime(), "Size": 5,
		"Hash": []byte{1, 2, 3}, // not the body's MD5: proves the document is read
		"Meta": map[string]string{"Content-Type": "text/plain", "X-Amz-Date": "20240101T000000Z", "X-Amz-Meta-Who": "me"},
	})
	if err := os.MkdirAll(filepath.Dir(metaPath), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(metaPath, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := fsbackend.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	o, err := b.Stat("b-1", key)
	if err != nil {
		t.Fatal(err)
	}
	if o.ETag != `"010203"` || o.Size != 5 || o.Header["Content-Type"] != "text/plain" || o.Header["X-Amz-Meta-Who"] != "me" || len(o.Header) != 2 {
		t.Fatalf("read %+v", o)
	}
	// A file changed behind the store's back is re-hashed.
	if err := os.WriteFile(obj, []byte("hello!"), 0o600); err != nil {
		t.Fatal(err)
	}
	if o, err = b.Stat("b-1", key); err != nil || o.ETag == `"010203"` || o.Size != 6 {
		t.Fatalf("after an outside change: %+v %v", o, err)
	}
}

// TestConcurrentIfNoneMatch: of conditional writes racing for one key,
// exactly one succeeds and the others fail the precondition.
func TestConcurrentIfNoneMatch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b, err := fsbackend.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.CreateBucket("b-1"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	results := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			since := b.Generation("b-1", "k")
			s, err := b.Spool(strings.NewReader("body"))
			if err != nil {
				results <- err
				return
			}
			defer s.Discard()
			_, err = b.Commit("b-1", "k", s, fsbackend.Attrs{}, &fsbackend.Conditions{IfNoneMatch: "*", Since: since})
			results <- err
		}()
	}
	wg.Wait()
	close(results)
	ok := 0
	for err := range results {
		switch {
		case err == nil:
			ok++
		case !gofakes3.HasErrorCode(err, gofakes3.ErrPreconditionFailed):
			t.Errorf("unexpected %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d writes succeeded, want 1", ok)
	}
	rc, _, err := b.Open("b-1", "k", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "body" {
		t.Fatalf("%q", got)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(entries) != 0 {
		t.Fatalf("refused writes left %d files in tmp/", len(entries))
	}
}
