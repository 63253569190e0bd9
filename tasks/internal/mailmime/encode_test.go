package mailmime_test

import (
	"encoding/base64"
	"io"
)

// lineBreaker inserts CRLF after every 76 characters, as MIME base64 does.
type lineBreaker struct {
	w    io.Writer
	line int
}

func newLineBreaker(w io.Writer) *lineBreaker { return &lineBreaker{w: w} }

func (l *lineBreaker) Write(p []byte) (int, error) {
	for _, b := range p {
		if l.line == 76 {
			_, _ = l.w.Write([]byte("\r\n"))
			l.line = 0
		}
		_, _ = l.w.Write([]byte{b})
		l.line++
	}
	return len(p), nil
}

func (l *lineBreaker) flush() {
	if l.line > 0 {
		_, _ = l.w.Write([]byte("\r\n"))
	}
}

func base64Encoder(w io.Writer) io.WriteCloser { return base64.NewEncoder(base64.StdEncoding, w) }
