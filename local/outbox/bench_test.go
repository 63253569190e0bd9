package outbox

import (
	"bytes"
	"path/filepath"
	"strconv"
	"testing"
)

// BenchmarkWriteFile writes .eml-sized files the way Send does. On a VM
// whose host reclaims idle guest memory, the first few thousand files after
// an idle moment cost many times what later ones do: compare -benchtime
// 1000x with 20000x.
func BenchmarkWriteFile(b *testing.B) {
	data := bytes.Repeat([]byte("x"), 4000)
	o, err := New(filepath.Join(b.TempDir(), "outbox"), WithoutSync())
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		if err := o.writeFile(filepath.Join(o.dir, "m-"+strconv.Itoa(i)+".eml"), data); err != nil {
			b.Fatal(err)
		}
	}
}
