package asl

import (
	"fmt"

	"github.com/mailflow/mailflow/asl/internal/jsonvalue"
)

// duplicateKeys reports object keys that appear twice; the decoder keeps
// the last one silently, AWS rejects the definition.
func duplicateKeys(src []byte) Issues {
	if len(src) == 0 {
		return nil
	}
	dups, _ := jsonvalue.Duplicates(src)
	var out Issues
	for _, d := range dups {
		loc := d.Pointer
		if loc == "" {
			loc = "/"
		}
		out = append(out, Issue{Code: codeSchema, Location: loc, Message: fmt.Sprintf("Duplicate field '%s'", d.Key)})
	}
	return out
}
