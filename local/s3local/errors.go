package s3local

import (
	"errors"
	"net/http"
	"strings"

	"github.com/johannesboyne/gofakes3"
)

// Codes S3 answers that gofakes3 has no constant (or no status) for.
const (
	errInvalidRequest    gofakes3.ErrorCode = "InvalidRequest"
	errEntityTooSmall    gofakes3.ErrorCode = "EntityTooSmall"
	errEntityTooLarge    gofakes3.ErrorCode = "EntityTooLarge"
	errInvalidPartNumber gofakes3.ErrorCode = "InvalidPartNumber"
	errIncompleteBody    gofakes3.ErrorCode = gofakes3.ErrIncompleteBody
	errMetadataTooLarge  gofakes3.ErrorCode = gofakes3.ErrMetadataTooLarge
)

func status(code gofakes3.ErrorCode) int {
	switch code {
	case errInvalidPartNumber:
		return http.StatusRequestedRangeNotSatisfiable
	case errInvalidRequest, errEntityTooSmall, errEntityTooLarge:
		return http.StatusBadRequest
	}
	return code.Status()
}

// fail answers err as S3 would: its code and message as an error document
// (no body for HEAD), anything else as InternalError.
func fail(w http.ResponseWriter, r *http.Request, err error) {
	code, msg := gofakes3.ErrInternal, "We encountered an internal error. Please try again."
	var coded interface{ ErrorCode() gofakes3.ErrorCode }
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &coded) && coded.ErrorCode() != gofakes3.ErrInternal:
		code = coded.ErrorCode()
		// gofakes3's errors read "<Code>: <Message>".
		msg = strings.TrimPrefix(coded.(error).Error(), string(code)+": ")
		if msg == "" || msg == string(code) {
			if msg = code.Message(); msg == "" {
				msg = string(code)
			}
		}
	case errors.As(err, &tooBig):
		code, msg = errEntityTooLarge, "Your proposed upload exceeds the maximum allowed size."
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(status(code))
		return
	}
	WriteError(w, status(code), string(code), msg)
}

func failf(code gofakes3.ErrorCode, format string, args ...any) error {
	return gofakes3.ErrorMessagef(code, format, args...)
}
