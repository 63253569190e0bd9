package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"
)

// Shell completion, as gh and kubectl do it: the script a shell sources is
// small and asks the binary itself for the candidates (`mailflow
// __complete WORDS...`), which answers from the registry. So the scripts
// never go stale: a new command, verb, flag or value is completed by the
// binary that has it.

// completeCommand is the hidden command the scripts call.
const completeCommand = "__complete"

// Directives: the first line of __complete's answer tells the script what
// to do besides offering the candidates that follow, one a line, each
// optionally followed by a tab and its description.
const (
	directiveNone  = ":none"  // only the candidates
	directiveFiles = ":files" // complete file names
	directiveDirs  = ":dirs"  // complete directory names
)

var shells = []string{"bash", "zsh", "fish"}

// runCompletion is `mailflow completion bash|zsh|fish`.
func runCompletion(_ context.Context, args []string, s Streams) error {
	fs := newFlags("completion", s, "bash|zsh|fish\n\n"+
		"Prints the completion script of the shell. Install it with\n"+
		"  bash: source <(mailflow completion bash)        (in ~/.bashrc)\n"+
		"  zsh:  source <(mailflow completion zsh)         (in ~/.zshrc, after compinit)\n"+
		"  fish: mailflow completion fish > ~/.config/fish/completions/mailflow.fish")
	if s.desc != nil {
		s.desc.args = shells
	}
	rest, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return usagef("a shell is required: %s", strings.Join(shells, ", "))
	}
	script, ok := map[string]string{"bash": bashScript, "zsh": zshScript, "fish": fishScript}[rest[0]]
	if !ok {
		return usagef("shell %q is not one of %s", rest[0], strings.Join(shells, ", "))
	}
	_, err = fmt.Fprint(s.Out, script)
	return err
}

// runComplete is `mailflow __complete WORD... CURRENT`: the directive,
// then the candidates for CURRENT (possibly empty), one a line.
func runComplete(_ context.Context, args []string, s Streams) error {
	if s.desc != nil {
		return flag.ErrHelp
	}
	if len(args) == 0 {
		args = []string{""}
	}
	directive, cands := complete(registry(), args[:len(args)-1], args[len(args)-1])
	fmt.Fprintln(s.Out, directive)
	for _, c := range cands {
		if c.desc != "" {
			fmt.Fprintf(s.Out, "%s\t%s\n", c.value, c.desc)
		} else {
			fmt.Fprintln(s.Out, c.value)
		}
	}
	return nil
}

type candidate struct{ value, desc string }

// rootFlags are the flags taken before the command.
var rootFlags = []flagSpec{
	{names: []string{"verbose", "v"}, usage: "with an error, also print its internal cause", isBool: true},
	{names: []string{"help", "h"}, usage: "the commands", isBool: true},
	{names: []string{"version"}, usage: "the version of this binary", isBool: true},
}

// complete finds the candidates for cur after the words before it.
func complete(roots []*node, before []string, cur string) (string, []candidate) {
	root := &node{verbs: roots, flags: rootFlags}
	n := root
	positional := 0
	var pending *flagSpec // a flag whose value is the next word
	for i, w := range before {
		switch {
		case pending != nil && w == "=" && i == len(before)-1:
			// bash splits --flag=value at the "=" (COMP_WORDBREAKS): the
			// word being completed is the flag's value.
		case pending != nil:
			pending = nil
		case strings.HasPrefix(w, "-") && w != "-" && w != "--":
			if f := findFlag(n, w); f != nil && !f.isBool && !strings.Contains(w, "=") {
				pending = f
			}
		default:
			if v := findVerb(n, w); v != nil && positional == 0 {
				n = v
				continue
			}
			positional++
		}
	}
	if pending != nil {
		return valuesOf(*pending, cur, "")
	}
	if strings.HasPrefix(cur, "-") {
		if name, value, ok := strings.Cut(cur, "="); ok {
			if f := findFlag(n, name); f != nil {
				return valuesOf(*f, value, name+"=")
			}
			return directiveNone, nil
		}
		var cands []candidate
		for _, f := range n.flags {
			for _, name := range f.names {
				if spelled := longName(name); strings.HasPrefix(spelled, cur) {
					cands = append(cands, candidate{spelled, f.usage})
				}
			}
		}
		return directiveNone, cands
	}
	var cands []candidate
	if positional == 0 {
		for _, v := range n.verbs {
			if strings.HasPrefix(v.name, cur) {
				cands = append(cands, candidate{v.name, v.summary})
			}
		}
	}
	if positional == 0 || n.path == "help" {
		for _, a := range n.args {
			if strings.HasPrefix(a, cur) {
				cands = append(cands, candidate{a, ""})
			}
		}
	}
	return directiveNone, cands
}

func findFlag(n *node, word string) *flagSpec {
	name := strings.TrimLeft(word, "-")
	name, _, _ = strings.Cut(name, "=")
	for i := range n.flags {
		for _, fn := range n.flags[i].names {
			if fn == name {
				return &n.flags[i]
			}
		}
	}
	return nil
}

func findVerb(n *node, word string) *node {
	for _, v := range n.verbs {
		if v.name == word {
			return v
		}
	}
	return nil
}

// valuesOf completes a flag's value: its choices, else a path, else
// nothing (free text). prefix goes before each candidate (--flag=).
func valuesOf(f flagSpec, cur, prefix string) (string, []candidate) {
	if len(f.choices) > 0 {
		var cands []candidate
		for _, c := range f.choices {
			if strings.HasPrefix(strings.ToLower(c), strings.ToLower(cur)) {
				cands = append(cands, candidate{prefix + c, ""})
			}
		}
		return directiveNone, cands
	}
	switch f.complete {
	case completeFiles:
		return directiveFiles, nil
	case completeDirs:
		return directiveDirs, nil
	}
	return directiveNone, nil
}

const bashScript = `# bash completion for mailflow: source <(mailflow completion bash)
# _mailflow_dequote prints a word as the command will see it: a quote the
# user opened, and backslash escapes, removed.
_mailflow_dequote() {
    local w="$1"
    case "$w" in
        \'*) w="${w#\'}"; w="${w%\'}" ;;
        \"*) w="${w#\"}"; w="${w%\"}" ;;
        *) w="${w//\\/}" ;;
    esac
    printf '%s' "$w"
}
_mailflow() {
    local IFS=$'\n'
    local words=() w
    for w in "${COMP_WORDS[@]:1:COMP_CWORD}"; do
        words+=("$(_mailflow_dequote "$w")")
    done
    local cur="${words[${#words[@]}-1]}"
    local out
    out=$("${COMP_WORDS[0]}" __complete "${words[@]}" 2>/dev/null) || return 0
    local directive="${out%%$'\n'*}"
    local line cands=()
    while read -r line; do
        [[ -n "$line" ]] && cands+=("${line%%$'\t'*}")
    done < <(printf '%s\n' "$out" | tail -n +2)
    COMPREPLY=("${cands[@]}")
    case "$directive" in
        # bash quotes what it inserts (a space in a file name) with -o filenames
        :files) compopt -o filenames 2>/dev/null; COMPREPLY+=($(compgen -f -- "$cur")) ;;
        :dirs) compopt -o filenames 2>/dev/null; COMPREPLY+=($(compgen -d -- "$cur")) ;;
    esac
    return 0
}
complete -o default -o bashdefault -F _mailflow mailflow
`

const zshScript = `#compdef mailflow
# zsh completion for mailflow: source <(mailflow completion zsh)
_mailflow() {
    local -a out cands
    # the words as the command gets them, quotes and backslashes removed;
    # the word completed is what precedes the cursor, which inside quotes
    # zsh gives without the opening quote
    out=("${(@f)$("${words[1]}" __complete "${(@Q)words[2,CURRENT-1]}" "${(Q)PREFIX}" 2>/dev/null)}")
    local directive="${out[1]}" line
    local -i ret=1
    for line in "${(@)out[2,-1]}"; do
        [[ -n "$line" ]] || continue
        if [[ "$line" == *$'\t'* ]]; then
            cands+=("${${line%%$'\t'*}//:/\\:}:${line#*$'\t'}")
        else
            cands+=("${line//:/\\:}")
        fi
    done
    (( ${#cands} )) && _describe 'mailflow' cands && ret=0
    # a path after --flag= completes as a path, the --flag= kept
    case "$directive" in
        :files) compset -P '-[^=]#='; _files && ret=0 ;;
        :dirs) compset -P '-[^=]#='; _files -/ && ret=0 ;;
    esac
    return ret
}
if [[ "$funcstack[1]" == "_mailflow" ]]; then
    _mailflow "$@"
else
    compdef _mailflow mailflow
fi
`

const fishScript = `# fish completion for mailflow: mailflow completion fish > ~/.config/fish/completions/mailflow.fish
function __mailflow_complete
    set -l words (commandline -opc)
    # the token as the command gets it: quotes and backslashes removed
    set -l current (commandline -ct | string unescape)
    set -l out ($words[1] __complete $words[2..-1] "$current" 2>/dev/null)
    printf '%s\n' $out[2..-1]
    # a path after --flag= completes as a path, the --flag= kept
    set -l prefix (string match -r -- '^-[^=]*=' "$current")
    set -l path (string replace -r -- '^-[^=]*=' '' "$current")
    switch "$out[1]"
        case :files
            for p in (__fish_complete_path "$path")
                printf '%s%s\n' "$prefix" $p
            end
        case :dirs
            for p in (__fish_complete_directories "$path")
                printf '%s%s\n' "$prefix" $p
            end
    end
end
complete -c mailflow -f -a '(__mailflow_complete)'
`
