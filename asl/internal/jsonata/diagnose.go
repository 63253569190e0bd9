package jsonata

import (
	"fmt"
	"strings"
)

// Diagnosis words a compile failure for a definition's author: the mistake
// the structural scan (diagnose) names, or the parser's message when the
// scan sees nothing wrong or the parser refused an operator this
// interpreter does not support.
func (e *SyntaxError) Diagnosis() string {
	if strings.Contains(e.msg, "not supported by this interpreter") {
		return e.msg
	}
	if d := diagnose(e.src); d != "" {
		return d
	}
	return e.msg
}

// diagnose is a structural check of an expression the parser rejected: it
// tokenizes and verifies that operands and operators alternate and that
// brackets balance, and names the first mistake it sees (dangling
// operators, unbalanced parentheses, JSONPath filters). It runs only on the
// failure path, after jparse.Parse; see the package documentation for why
// it has its own scan.
func diagnose(s string) string {
	toks, err := scanTokens(s)
	if err != "" {
		return err
	}
	var stack []byte
	expectOperand := true
	for i, t := range toks {
		switch t.kind {
		case 'n', 's', 'v', 'i': // number, string, $variable, identifier
			if !expectOperand {
				// juxtaposition is not JSONata, except keywords handled as ops
				return fmt.Sprintf("unexpected %q", t.text)
			}
			expectOperand = false
		case '(', '[', '{':
			if !expectOperand && t.kind == '(' && i > 0 && (toks[i-1].kind == 'v' || toks[i-1].kind == 'i' || isCloser(toks[i-1].kind)) {
				// function call
			} else if !expectOperand && t.kind == '[' {
				// predicate / index
			} else if !expectOperand && t.kind == '{' {
				// group-by
			} else if !expectOperand {
				return fmt.Sprintf("unexpected %q", t.text)
			}
			stack = append(stack, t.kind)
			expectOperand = true
			if i+1 < len(toks) && isCloser(toks[i+1].kind) && matches(t.kind, toks[i+1].kind) {
				// empty () [] {}
				expectOperand = false
			}
		case ')', ']', '}':
			if len(stack) == 0 || !matches(stack[len(stack)-1], t.kind) {
				return fmt.Sprintf("unbalanced %q", t.text)
			}
			if expectOperand && !(i > 0 && matches(toks[i-1].kind, t.kind)) {
				return fmt.Sprintf("missing operand before %q", t.text)
			}
			stack = stack[:len(stack)-1]
			expectOperand = false
		case ',', ';', ':':
			if expectOperand {
				return fmt.Sprintf("missing operand before %q", t.text)
			}
			expectOperand = true
		case 'o': // binary operator
			if expectOperand {
				if t.text == "-" {
					continue // unary minus
				}
				if t.text == "*" || t.text == "**" {
					// wildcard path step
					expectOperand = false
					continue
				}
				return fmt.Sprintf("unexpected operator %q", t.text)
			}
			expectOperand = true
		case '?':
			return "unexpected '?'"
		}
	}
	if len(stack) > 0 {
		return "unbalanced brackets"
	}
	if expectOperand && len(toks) > 0 {
		return "expression ends with an operator"
	}
	if len(toks) == 0 {
		return "empty expression"
	}
	return ""
}

func isCloser(k byte) bool { return k == ')' || k == ']' || k == '}' }

func matches(open, close byte) bool {
	return (open == '(' && close == ')') || (open == '[' && close == ']') || (open == '{' && close == '}')
}

type jtoken struct {
	kind byte
	text string
}

// scanTokens splits an expression into the tokens diagnose checks.
func scanTokens(s string) ([]jtoken, string) {
	var out []jtoken
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '/' && (len(out) == 0 || regexCanStart(out[len(out)-1].kind)):
			// regular expression literal /.../flags
			j := i + 1
			for j < len(s) && s[j] != '/' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(s) {
				return nil, "unterminated regular expression"
			}
			j++
			for j < len(s) && (s[j] == 'i' || s[j] == 'm') {
				j++
			}
			out = append(out, jtoken{'s', s[i:j]})
			i = j
		case c == '"' || c == '\'':
			j := i + 1
			for j < len(s) && s[j] != c {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(s) {
				return nil, "unterminated string"
			}
			out = append(out, jtoken{'s', s[i : j+1]})
			i = j + 1
		case c == '`':
			j := i + 1
			for j < len(s) && s[j] != '`' {
				j++
			}
			if j >= len(s) {
				return nil, "unterminated name"
			}
			out = append(out, jtoken{'i', s[i : j+1]})
			i = j + 1
		case c >= '0' && c <= '9':
			j := i
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			if j < len(s) && s[j] == '.' && !(j+1 < len(s) && s[j+1] == '.') {
				j++
				if j >= len(s) || s[j] < '0' || s[j] > '9' {
					return nil, fmt.Sprintf("invalid number %q", s[i:j])
				}
				for j < len(s) && s[j] >= '0' && s[j] <= '9' {
					j++
				}
			}
			if j < len(s) && (s[j] == 'e' || s[j] == 'E') {
				j++
				if j < len(s) && (s[j] == '+' || s[j] == '-') {
					j++
				}
				for j < len(s) && s[j] >= '0' && s[j] <= '9' {
					j++
				}
			}
			out = append(out, jtoken{'n', s[i:j]})
			i = j
		case c == '$':
			j := i + 1
			if j < len(s) && s[j] == '$' {
				j++ // $$ is the root context
			}
			for j < len(s) && (isVarChar(s[j])) {
				j++
			}
			out = append(out, jtoken{'v', s[i:j]})
			i = j
		case isVarStart(c):
			j := i
			for j < len(s) && isVarChar(s[j]) {
				j++
			}
			w := s[i:j]
			if w == "and" || w == "or" || w == "in" {
				out = append(out, jtoken{'o', w})
			} else {
				out = append(out, jtoken{'i', w})
			}
			i = j
		case c == '(' || c == ')' || c == '[' || c == ']' || c == '{' || c == '}' || c == ',' || c == ';':
			out = append(out, jtoken{c, string(c)})
			i++
		case c == '?':
			// conditional a ? b : c, or ?: / ?? operators
			if i+1 < len(s) && (s[i+1] == ':' || s[i+1] == '?') {
				out = append(out, jtoken{'o', s[i : i+2]})
				i += 2
				continue
			}
			if len(out) == 0 || out[len(out)-1].kind == '[' || out[len(out)-1].kind == '(' || out[len(out)-1].kind == 'o' {
				return nil, "unexpected '?'"
			}
			out = append(out, jtoken{'o', "?"})
			i++
		case c == ':':
			if i+1 < len(s) && s[i+1] == '=' {
				out = append(out, jtoken{'o', ":="})
				i += 2
				continue
			}
			out = append(out, jtoken{':', ":"})
			i++
		default:
			ops := []string{"~>", "..", "!=", "<=", ">=", "**", "+", "-", "*", "/", "%", "=", "<", ">", "&", ".", "^", "#", "@", "|", "!"}
			matched := false
			for _, op := range ops {
				if len(s)-i >= len(op) && s[i:i+len(op)] == op {
					out = append(out, jtoken{'o', op})
					i += len(op)
					matched = true
					break
				}
			}
			if !matched {
				return nil, fmt.Sprintf("unexpected character %q", string(c))
			}
		}
	}
	return out, ""
}

func isVarStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isVarChar(c byte) bool {
	return isVarStart(c) || (c >= '0' && c <= '9')
}

func regexCanStart(prev byte) bool {
	return prev == 'o' || prev == '(' || prev == '[' || prev == ',' || prev == ':' || prev == '{' || prev == ';'
}
