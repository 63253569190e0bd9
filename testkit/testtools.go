// Package testkit gives tests the Node tools they run against (asl-validator
// today; emulators as they are added). The tools are pinned in
// tools/npm/package-lock.json and installed with `npm ci` into a cache
// directory on first use, so a fresh machine needs only node and npm; the
// repository itself never holds node_modules.
//
// The cache is $MAILFLOW_TOOLS_CACHE, or the user cache directory, keyed by a
// hash of the lockfile so a changed lockfile installs afresh. Concurrent test
// binaries serialise the install with a file lock.
package testkit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
)

// RepoRoot returns the repository root (the directory holding go.mod).
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("testkit: cannot locate the source file")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), ".."))
}

// NodeModules installs the pinned Node tools if needed and returns their
// node_modules directory. It fails the test, naming what is missing, when
// node or npm is not installed: the checks that need them must not pass
// silently.
func NodeModules(t testing.TB) string {
	t.Helper()
	for _, bin := range []string{"node", "npm"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("testkit: %s is not installed; these tests need Node.js and npm (see .ci/run)", bin)
		}
	}
	src := filepath.Join(RepoRoot(t), "tools", "npm")
	lock, err := os.ReadFile(filepath.Join(src, "package-lock.json"))
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	sum := sha256.Sum256(lock)
	dir := filepath.Join(toolsCache(t), "npm-"+hex.EncodeToString(sum[:6]))
	unlock := lockDir(t, dir)
	defer unlock()

	done := filepath.Join(dir, ".installed")
	if _, err := os.Stat(done); err == nil {
		return filepath.Join(dir, "node_modules")
	}
	for _, f := range []string{"package.json", "package-lock.json"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatalf("testkit: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatalf("testkit: %v", err)
		}
	}
	cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testkit: npm ci in %s failed: %v\n%s", dir, err, out)
	}
	if err := os.WriteFile(done, nil, 0o644); err != nil {
		t.Fatalf("testkit: %v", err)
	}
	return filepath.Join(dir, "node_modules")
}

// Node runs a Node script with the tools' node_modules on its module path and
// returns its combined output.
func Node(t testing.TB, args ...string) ([]byte, error) {
	t.Helper()
	modules := NodeModules(t)
	cmd := exec.Command("node", args...)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	// Only stdout is the script's answer: Node and npm packages print
	// warnings (an old Node, a deprecation) on stderr, which must not make
	// the answer unreadable. A failure returns both.
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return append(out, stderr.Bytes()...), fmt.Errorf("node %v: %w", args, err)
	}
	return out, nil
}

// toolsCache is the directory tools are installed into:
// $MAILFLOW_TOOLS_CACHE, or mailflow/ under the user cache directory.
func toolsCache(t testing.TB) string {
	t.Helper()
	if base := os.Getenv("MAILFLOW_TOOLS_CACHE"); base != "" {
		return base
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	return filepath.Join(base, "mailflow")
}

// lockDir creates dir and holds an exclusive file lock on it until the
// returned function is called, so concurrent test binaries install a tool
// once.
func lockDir(t testing.TB, dir string) func() {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("testkit: %v", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, ".install.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("testkit: lock %s: %v", dir, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}
}
