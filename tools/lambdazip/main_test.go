package main

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestZip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	content := bytes.Repeat([]byte("\x7fELF binary"), 1000)
	if err := os.WriteFile(bin, content, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "task.zip")
	if err := run([]string{out, bin}); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(out)
	if err := run([]string{out, bin}); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(out)
	if !bytes.Equal(first, second) {
		t.Error("the same binary gave different zips")
	}
	zr, err := zip.OpenReader(out)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if len(zr.File) != 1 || zr.File[0].Name != "bootstrap" || zr.File[0].Mode().Perm() != 0o755 {
		t.Fatalf("entries %+v", zr.File)
	}
	rc, _ := zr.File[0].Open()
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, content) {
		t.Fatal("bootstrap content differs")
	}
	if err := run([]string{out}); err == nil {
		t.Error("missing argument accepted")
	}
	if err := run([]string{out, filepath.Join(dir, "nope")}); err == nil {
		t.Error("missing binary accepted")
	}
}
