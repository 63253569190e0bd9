package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Output formats of -o. Table is for people and the default; JSON is for
// scripts, and in JSON mode stdout holds the JSON and nothing else
// (progress and warnings go to stderr).
const (
	formatTable = "table"
	formatJSON  = "json"
)

// outputFormat is the value of -o/--output, in any case. It keeps its
// choice in a bool (true: JSON) so that commands keep reading one field
// whichever of -o json, --output json or --json set it.
type outputFormat struct{ json *bool }

func (f *outputFormat) String() string {
	if f != nil && f.json != nil && *f.json {
		return formatJSON
	}
	return formatTable
}

func (f *outputFormat) Set(v string) error {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case formatJSON:
		*f.json = true
	case formatTable:
		*f.json = false
	default:
		return fmt.Errorf("%q is not an output format: want %s or %s", v, formatJSON, formatTable)
	}
	return nil
}

func (f *outputFormat) choices() []string { return []string{formatJSON, formatTable} }

// JSON says whether the command prints JSON.
func (f *outputFormat) JSON() bool { return *f.json }

// jsonAlias is --json, the older spelling of -o json.
type jsonAlias struct{ f *outputFormat }

func (a jsonAlias) String() string {
	return strconv.FormatBool(a.f != nil && a.f.json != nil && *a.f.json)
}

func (a jsonAlias) IsBoolFlag() bool { return true }
func (a jsonAlias) Set(v string) error {
	on, err := strconv.ParseBool(v)
	if err != nil {
		return err
	}
	*a.f.json = on
	return nil
}

// addOutputFlag registers -o/--output and --json on a command's flag set.
func addOutputFlag(fs *flag.FlagSet) *outputFormat {
	return bindOutputFlag(fs, new(bool))
}

// bindOutputFlag registers -o/--output and --json, keeping the choice in
// *jsonOut.
func bindOutputFlag(fs *flag.FlagSet, jsonOut *bool) *outputFormat {
	f := &outputFormat{json: jsonOut}
	usage := "output format: " + formatTable + " (default, for people) or " + formatJSON + " (for scripts: stdout holds the JSON alone)"
	fs.Var(f, "o", usage)
	fs.Var(f, "output", usage)
	fs.Var(jsonAlias{f}, "json", "print JSON: the same as -o json")
	return f
}

// write prints value as JSON, or calls table to print it for people.
func (f *outputFormat) write(s Streams, value any, table func(w io.Writer) error) error {
	if f.JSON() {
		return printJSON(s.Out, value)
	}
	return table(s.Out)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
