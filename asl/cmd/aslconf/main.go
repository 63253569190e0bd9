// Command aslconf runs an ASL conformance corpus directory (the format of
// asl-conformance: cases/<id>/definition.json, input.json, expected.json,
// stubs.json, meta.json) against the asl interpreter. It prints one line per
// case (id, pass/fail, first difference) and ends with "N passed, M failed".
//
// Usage:
//
//	aslconf [-features] [-run SUBSTRING] DIR
package main

import (
	"os"

	"github.com/mailflow/mailflow/asl/internal/conformance"
)

func main() {
	os.Exit(conformance.Main(os.Args[1:], os.Stdout, os.Stderr))
}
