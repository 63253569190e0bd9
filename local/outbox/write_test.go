package outbox

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// Both ways of writing a file leave exactly the named file with its bytes,
// and nothing else, in the directory.
func TestWriteFileBothWays(t *testing.T) {
	t.Parallel()
	for _, unnamed := range []bool{true, false} {
		dir := t.TempDir()
		o, err := New(dir)
		if err != nil {
			t.Fatal(err)
		}
		o.tmpfileOK.Store(unnamed)
		data := bytes.Repeat([]byte("x"), 10000)
		path := filepath.Join(dir, "a.eml")
		if err := o.writeFile(path, data); err != nil {
			t.Fatalf("unnamed=%v: %v", unnamed, err)
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("unnamed=%v: read back %d bytes, %v", unnamed, len(got), err)
		}
		if fi, err := os.Stat(path); err != nil {
			t.Fatal(err)
		} else if fi.Mode().Perm() != 0o600 {
			t.Fatalf("unnamed=%v: mode %v: a mail is readable by its owner only", unnamed, fi.Mode())
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 {
			t.Fatalf("unnamed=%v: %d entries in the directory, want 1", unnamed, len(entries))
		}
		// A name that is taken is an error, never a silent overwrite.
		if unnamed {
			if err := o.writeFile(path, []byte("other")); err == nil {
				t.Fatal("writing over an existing file succeeded")
			}
		}
	}
}
