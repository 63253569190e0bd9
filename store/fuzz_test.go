package store_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailflow/mailflow/store"
)

// FuzzValidateKey: every key ValidateKey accepts stays inside a directory
// root when joined to it, as a directory-backed store would, and names a
// file below the root, never the root itself.
func FuzzValidateKey(f *testing.F) {
	for _, k := range []string{"attachments/a.pdf", "../x", "a/../../b", "/abs", "a//b", "a/./b", `a\..\b`, "a/b/", "ä/ö", "a\x00b", ".", ".."} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if store.ValidateKey(key) != nil {
			return
		}
		root := "/srv/store"
		p := filepath.Join(root, filepath.FromSlash(key))
		if p == root || !strings.HasPrefix(p, root+string(filepath.Separator)) {
			t.Fatalf("accepted key %q escapes the root: %s", key, p)
		}
		if filepath.Clean(p) != p || strings.HasSuffix(key, "/") {
			t.Fatalf("accepted key %q is not a clean file path: %s", key, p)
		}
	})
}

func TestHasPrefix(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		key, prefix string
		want        bool
	}{
		{"attachments/a", "attachments/", true},
		{"attachments/", "attachments/", false},
		{"attachmentsX/a", "attachments/", false},
		{"attachments/../a", "attachments/", false},
		{"attachments/a", "attachments", false},
		{"other/attachments/a", "attachments/", false},
	} {
		if got := store.HasPrefix(c.key, c.prefix); got != c.want {
			t.Errorf("HasPrefix(%q, %q) = %v", c.key, c.prefix, got)
		}
	}
}
