// Command aslconf runs an ASL conformance corpus directory (the format of
// asl-conformance: cases/<id>/definition.json, input.json, expected.json,
// stubs.json, meta.json) against the asl interpreter. It prints one line per
// case (id, pass/fail, first difference) and ends with "N passed, M failed".
//
// Usage:
//
//	aslconf [-features] [-choice] [-validation] [-run SUBSTRING] DIR
//
// -choice adds the rows of DIR/choice-cases and -validation the answers of
// DIR/validation/aws to the lines and the totals; -features prints the pass
// table per feature tag.
package main

import (
	"os"

	"github.com/mailflow/mailflow/asl/internal/conformance"
)

func main() {
	os.Exit(conformance.Main(os.Args[1:], os.Stdout, os.Stderr))
}
