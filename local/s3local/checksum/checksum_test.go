package checksum_test

import (
	"encoding/hex"
	"testing"

	"github.com/mailflow/mailflow/local/s3local/checksum"
)

// The published check values of each algorithm over "123456789".
func TestCheckValues(t *testing.T) {
	t.Parallel()
	for alg, want := range map[checksum.Algorithm]string{
		checksum.CRC32:     "cbf43926",
		checksum.CRC32C:    "e3069283",
		checksum.CRC64NVME: "ae8b14860a799888",
		checksum.SHA1:      "f7c3bc1d808e04732adf679965ccc34ca7ae3441",
		checksum.SHA256:    "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225",
	} {
		h := alg.New()
		h.Write([]byte("123456789"))
		if got := hex.EncodeToString(h.Sum(nil)); got != want {
			t.Errorf("%s: %s, want %s", alg, got, want)
		}
	}
}

func TestParseAndDecode(t *testing.T) {
	t.Parallel()
	if a, err := checksum.Parse("crc32c"); err != nil || a != checksum.CRC32C {
		t.Fatalf("%q %v", a, err)
	}
	if _, err := checksum.Parse("md5"); err == nil {
		t.Fatal("accepted md5")
	}
	if _, err := checksum.CRC32.Decode("AAAAAAAA"); err == nil {
		t.Fatal("accepted a 6-byte CRC32")
	}
	if got := checksum.CRC32.CompositeOf([][]byte{{0, 0, 0, 1}, {0, 0, 0, 2}}); got[len(got)-2:] != "-2" {
		t.Fatalf("composite %q", got)
	}
}
