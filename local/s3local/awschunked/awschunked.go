// Package awschunked decodes the aws-chunked content encoding SDKs use to
// stream an upload whose checksum travels after the body: a series of
// "<hex size>[;chunk-signature=<sig>]\r\n<data>\r\n" chunks, a zero-size
// chunk, then trailer lines "name:value\r\n" and an empty line.
//
// Chunk and trailer signatures are read and not verified: the local
// endpoint's gateway authenticates the request from its headers, and a
// client that signs chunks signs them with the same key.
package awschunked

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// maxLine bounds a chunk header or trailer line, so a body without line
// ends cannot make the decoder buffer without limit.
const maxLine = 4096

// Reader yields the decoded payload of an aws-chunked body; once it has
// returned io.EOF, Trailers holds the trailer lines, by lower-cased name.
type Reader struct {
	in       *bufio.Reader
	left     int64 // bytes left in the current chunk
	started  bool
	done     bool
	err      error
	trailers map[string]string
}

// NewReader decodes body.
func NewReader(body io.Reader) *Reader {
	return &Reader{in: bufio.NewReaderSize(body, 64<<10), trailers: map[string]string{}}
}

// Trailers are the trailer fields read after the last chunk.
func (r *Reader) Trailers() map[string]string { return r.trailers }

// ErrMalformed is wrapped by every framing error.
var ErrMalformed = errors.New("malformed aws-chunked body")

func (r *Reader) fail(format string, args ...any) error {
	r.err = fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	return r.err
}

func (r *Reader) line() (string, error) {
	var b []byte
	for {
		part, isPrefix, err := r.in.ReadLine()
		if err != nil {
			if err == io.EOF {
				return "", r.fail("the body ends before its last chunk")
			}
			return "", err
		}
		b = append(b, part...)
		if len(b) > maxLine {
			return "", r.fail("a chunk header or trailer line is longer than %d bytes", maxLine)
		}
		if !isPrefix {
			return string(b), nil
		}
	}
}

func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.done {
		return 0, io.EOF
	}
	if r.left == 0 {
		if r.started {
			if err := r.crlf(); err != nil {
				return 0, err
			}
		}
		r.started = true
		if err := r.header(); err != nil {
			return 0, err
		}
		if r.done {
			return 0, io.EOF
		}
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.in.Read(p)
	r.left -= int64(n)
	if err == io.EOF {
		if r.left > 0 {
			return n, r.fail("a chunk is shorter than its declared size")
		}
		err = nil
	}
	return n, err
}

func (r *Reader) crlf() error {
	var end [2]byte
	if _, err := io.ReadFull(r.in, end[:]); err != nil || end != [2]byte{'\r', '\n'} {
		return r.fail("a chunk's data is not followed by CRLF")
	}
	return nil
}

func (r *Reader) header() error {
	line, err := r.line()
	if err != nil {
		return err
	}
	sizeText, _, _ := strings.Cut(line, ";")
	size, err := strconv.ParseInt(strings.TrimSpace(sizeText), 16, 64)
	if err != nil || size < 0 {
		return r.fail("chunk size %q is not a hexadecimal number", sizeText)
	}
	if size > 0 {
		r.left = size
		return nil
	}
	r.done = true
	for {
		line, err := r.line()
		if err != nil {
			if errors.Is(err, ErrMalformed) && len(r.trailers) == 0 {
				// A body may end right after the zero chunk's line.
				r.err = nil
				return nil
			}
			return err
		}
		if line == "" {
			return nil
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return r.fail("trailer line %q has no colon", line)
		}
		r.trailers[strings.ToLower(strings.TrimSpace(name))] = strings.TrimSpace(value)
	}
}
