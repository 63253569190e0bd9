package awschunked_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/mailflow/mailflow/local/s3local/awschunked"
)

func TestDecodes(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct{ body, want, trailer string }{
		"unsigned with trailer": {"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n", "hello world", "AAAAAA=="},
		"signed":                {"5;chunk-signature=abc\r\nhello\r\n0;chunk-signature=def\r\n\r\n", "hello", ""},
		"signed with trailer":   {"2;chunk-signature=a\r\nhi\r\n0;chunk-signature=b\r\nx-amz-checksum-crc32:XYZ=\r\nx-amz-trailer-signature:c\r\n\r\n", "hi", "XYZ="},
		"empty":                 {"0\r\n\r\n", "", ""},
	} {
		r := awschunked.NewReader(strings.NewReader(tc.body))
		got, err := io.ReadAll(r)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: %q %v, want %q", name, got, err, tc.want)
		}
		if r.Trailers()["x-amz-checksum-crc32"] != tc.trailer {
			t.Errorf("%s: trailers %v", name, r.Trailers())
		}
	}
}

func TestRefusesMalformed(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		"zz\r\nhello\r\n0\r\n\r\n",
		"5\r\nhel",
		"5\r\nhelloXX0\r\n\r\n",
		"5\r\nhello\r\n",
		"0\r\nno colon\r\n\r\n",
		strings.Repeat("1", 5000),
	} {
		_, err := io.ReadAll(awschunked.NewReader(strings.NewReader(body)))
		if !errors.Is(err, awschunked.ErrMalformed) {
			t.Errorf("%q: %v, want ErrMalformed", body, err)
		}
	}
}
