//go:build !linux

package outbox

import "errors"

var errNoUnnamed = errors.New("outbox: unnamed files not supported")

func writeUnnamed(dir, path string, data []byte, sync bool) error { return errNoUnnamed }
