package cli

import (
	"fmt"
	"strings"
)

// referenceMarkdown is docs/CLI.md, made from the registry: every command,
// verb and flag, the output formats, the exit codes and how to install
// completion. TestDocsUpToDate fails when the file differs from it
// (MAILFLOW_UPDATE_DOCS=1 writes it).
func referenceMarkdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# mailflow command line\n\n")
	p("<!-- Generated from the command registry by `MAILFLOW_UPDATE_DOCS=1 go test ./cli -run DocsUpToDate`; do not edit. -->\n\n")
	p("Usage: `mailflow [-v] <command> [<verb>] [flags]`. Flags take one dash or two (`-status x`, `--status x`,\n")
	p("`--status=x`); a boolean flag is set by its name alone (`--aws`) or `--aws=false`.\n\n")
	p("## Conventions\n\n")
	p("- **Output.** Every command that prints data takes `-o table` (the default, for people) or `-o json`\n")
	p("  (for scripts), in any case; `--json` is the older spelling of `-o json` and stays. In JSON mode stdout\n")
	p("  holds the JSON and nothing else: progress, warnings and errors go to stderr. `events -o json` prints\n")
	p("  one event a line (JSON Lines), as webhooks receive them, so that `--follow` can stream.\n")
	p("- **Errors.** An error says what went wrong in the user's terms and what to do (`hint:`), e.g.\n")
	p("  ``cannot reach the local queue at 127.0.0.1:4580: is `mailflow dev` running?``. `-v` (or `--verbose`),\n")
	p("  before or after the command, also prints the internal cause chain (the SDK's own words).\n")
	p("- **Completion** of commands, verbs, flags and their values (see below).\n\n")
	p("## Exit codes\n\n| code | meaning |\n|---|---|\n")
	for _, e := range exitCodes {
		p("| %d | %s |\n", e.code, e.meaning)
	}
	p("\n`mailflow help exit-codes` prints this list.\n\n")
	p("## Completion\n\n")
	p("`mailflow completion SHELL` prints the script; the script asks the binary for the candidates, so it\n")
	p("never needs regenerating after an upgrade.\n\n")
	p("```sh\n# bash (~/.bashrc)\nsource <(mailflow completion bash)\n")
	p("# zsh (~/.zshrc, after compinit)\nsource <(mailflow completion zsh)\n")
	p("# fish\nmailflow completion fish > ~/.config/fish/completions/mailflow.fish\n```\n\n")
	p("## Commands\n\n")
	for _, n := range registry() {
		writeNode(&b, n, "###")
	}
	return b.String()
}

func writeNode(b *strings.Builder, n *node, heading string) {
	fmt.Fprintf(b, "%s mailflow %s\n\n%s.\n\n", heading, n.path, capitalise(n.summary))
	if len(n.verbs) > 0 {
		names := make([]string, len(n.verbs))
		for i, v := range n.verbs {
			names[i] = "`" + v.name + "`"
		}
		fmt.Fprintf(b, "Verbs: %s.\n\n", strings.Join(names, ", "))
	}
	if n.flags != nil {
		// The usage line, without its free text after a blank line.
		usage, _, _ := strings.Cut(n.usage, "\n")
		fmt.Fprintf(b, "```\nmailflow %s %s\n```\n\n", n.path, strings.TrimSpace(usage))
		fmt.Fprintf(b, "| flag | default | meaning |\n|---|---|---|\n")
		for _, f := range n.flags {
			names := make([]string, len(f.names))
			for i, name := range f.names {
				names[i] = "`" + longName(name) + "`"
			}
			def := f.def
			if f.isBool && def == "false" {
				def = ""
			}
			if def != "" {
				def = "`" + def + "`"
			}
			meaning := f.usage
			if len(f.choices) > 0 {
				meaning += " (values: " + strings.Join(f.choices, ", ") + ")"
			}
			fmt.Fprintf(b, "| %s | %s | %s |\n", strings.Join(names, ", "), strings.ReplaceAll(def, "|", "\\|"), strings.ReplaceAll(meaning, "|", "\\|"))
		}
		fmt.Fprintln(b)
	}
	for _, v := range n.verbs {
		writeNode(b, v, heading+"#")
	}
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
