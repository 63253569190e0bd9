package awstasks_test

import (
	"io"
	"log/slog"
)

var quiet = slog.New(slog.NewJSONHandler(io.Discard, nil))
