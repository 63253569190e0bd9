package jsonata

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// $formatInteger(number, picture) and $parseInteger(string, picture) with
// the pictures of XPath's format-integer that JSONata supports most: decimal
// digit patterns ("0", "000", "#,##0"), words ("w", "W", "Ww"), roman
// numerals ("i", "I") and letters ("a", "A").

func fnFormatInteger(args []reflect.Value) (reflect.Value, error) {
	f, ok, err := numArg(args, 0, "formatInteger")
	if err != nil || !ok {
		return undefined, err
	}
	pic, _, err := strArg(args, 1, "formatInteger")
	if err != nil {
		return undefined, err
	}
	n := int64(math.Round(f))
	s, ferr := formatInteger(n, pic)
	if ferr != nil {
		return undefined, ferr
	}
	return reflect.ValueOf(s), nil
}

func formatInteger(n int64, pic string) (string, error) {
	neg := n < 0
	if neg {
		n = -n
	}
	var s string
	switch pic {
	case "w":
		s = words(n)
	case "W":
		s = strings.ToUpper(words(n))
	case "Ww":
		s = titleWords(words(n))
	case "i":
		s = strings.ToLower(roman(n))
	case "I":
		s = roman(n)
	case "a", "A":
		s = letters(n, pic[0])
	default:
		var err error
		s, err = decimalPicture(n, pic)
		if err != nil {
			return "", err
		}
	}
	if neg {
		s = "-" + s
	}
	return s, nil
}

func decimalPicture(n int64, pic string) (string, error) {
	if pic == "" {
		return "", &EvalError{Code: "D3130", Msg: "Formatting or parsing an integer as a sequence starting with  is not supported by this implementation"}
	}
	mandatory := 0
	var seps []struct {
		pos int
		sep byte
	}
	digits := 0
	for i := len(pic) - 1; i >= 0; i-- {
		c := pic[i]
		switch {
		case c >= '0' && c <= '9':
			mandatory++
			digits++
		case c == '#':
			digits++
		default:
			seps = append(seps, struct {
				pos int
				sep byte
			}{digits, c})
		}
	}
	s := strconv.FormatInt(n, 10)
	for len(s) < mandatory {
		s = "0" + s
	}
	if len(seps) == 0 {
		return s, nil
	}
	// regular grouping when the separators are evenly spaced
	interval := seps[0].pos
	regular := interval > 0
	for i, sp := range seps {
		if sp.pos != interval*(i+1) || sp.sep != seps[0].sep {
			regular = false
		}
	}
	var b []byte
	cnt := 0
	si := 0
	for i := len(s) - 1; i >= 0; i-- {
		if regular && cnt > 0 && cnt%interval == 0 {
			b = append(b, seps[0].sep)
		} else if !regular && si < len(seps) && cnt == seps[si].pos && cnt > 0 {
			b = append(b, seps[si].sep)
			si++
		}
		b = append(b, s[i])
		cnt++
	}
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b), nil
}

var (
	smallWords = []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
		"eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"}
	tensWords  = []string{"", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"}
	scaleWords = []struct {
		v    int64
		name string
	}{{1e18, "quintillion"}, {1e15, "quadrillion"}, {1e12, "trillion"}, {1e9, "billion"}, {1e6, "million"}, {1000, "thousand"}, {100, "hundred"}}
)

func words(n int64) string {
	if n < 20 {
		return smallWords[n]
	}
	if n < 100 {
		s := tensWords[n/10]
		if n%10 != 0 {
			s += "-" + smallWords[n%10]
		}
		return s
	}
	for _, sc := range scaleWords {
		if n >= sc.v {
			s := words(n/sc.v) + " " + sc.name
			if r := n % sc.v; r > 0 {
				if r < 100 {
					s += " and "
				} else {
					s += ", "
				}
				s += words(r)
			}
			return s
		}
	}
	return ""
}

func titleWords(s string) string {
	parts := strings.Split(s, " ")
	for i, p := range parts {
		if p == "and" || p == "" {
			continue
		}
		parts[i] = strings.ToUpper(p[:1]) + p[1:]
	}
	return strings.Join(parts, " ")
}

var romanTable = []struct {
	v int64
	s string
}{{1000, "M"}, {900, "CM"}, {500, "D"}, {400, "CD"}, {100, "C"}, {90, "XC"}, {50, "L"}, {40, "XL"}, {10, "X"}, {9, "IX"}, {5, "V"}, {4, "IV"}, {1, "I"}}

func roman(n int64) string {
	var b strings.Builder
	for _, r := range romanTable {
		for n >= r.v {
			b.WriteString(r.s)
			n -= r.v
		}
	}
	return b.String()
}

func letters(n int64, base byte) string {
	var b []byte
	for n > 0 {
		n--
		b = append([]byte{base + byte(n%26)}, b...)
		n /= 26
	}
	return string(b)
}

func fnParseInteger(args []reflect.Value) (reflect.Value, error) {
	s, ok, err := strArg(args, 0, "parseInteger")
	if err != nil || !ok {
		return undefined, err
	}
	pic, _, err := strArg(args, 1, "parseInteger")
	if err != nil {
		return undefined, err
	}
	n, perr := parseInteger(s, pic)
	if perr != nil {
		if isDecimalPicture(pic) {
			// not a number, as AWS answers (written "NaN")
			return reflect.ValueOf(math.NaN()), nil
		}
		return undefined, perr
	}
	return reflect.ValueOf(float64(n)), nil
}

func parseInteger(s, pic string) (int64, error) {
	switch pic {
	case "i", "I":
		return parseRoman(strings.ToUpper(s))
	case "w", "W", "Ww":
		return parseWords(strings.ToLower(s))
	case "a", "A":
		var n int64
		for _, c := range strings.ToUpper(s) {
			n = n*26 + int64(c-'A'+1)
		}
		return n, nil
	}
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return -1
	}, s)
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, &EvalError{Code: "D3137", Msg: fmt.Sprintf("Unable to parse '%s' with picture '%s'", s, pic)}
	}
	return n, nil
}

func parseRoman(s string) (int64, error) {
	vals := map[byte]int64{'I': 1, 'V': 5, 'X': 10, 'L': 50, 'C': 100, 'D': 500, 'M': 1000}
	var n int64
	for i := 0; i < len(s); i++ {
		v, ok := vals[s[i]]
		if !ok {
			return 0, &EvalError{Code: "D3137", Msg: fmt.Sprintf("Unable to parse '%s' as a roman numeral", s)}
		}
		if i+1 < len(s) && vals[s[i+1]] > v {
			n -= v
		} else {
			n += v
		}
	}
	return n, nil
}

func parseWords(s string) (int64, error) {
	lookup := map[string]int64{}
	for i, w := range smallWords {
		lookup[w] = int64(i)
	}
	for i, w := range tensWords {
		if w != "" {
			lookup[w] = int64(i * 10)
		}
	}
	s = strings.NewReplacer(",", " ", "-", " ", " and ", " ").Replace(s)
	var total, cur int64
	for _, w := range strings.Fields(s) {
		if v, ok := lookup[w]; ok {
			cur += v
			continue
		}
		found := false
		for _, sc := range scaleWords {
			if sc.name == w {
				found = true
				if sc.v == 100 {
					cur *= 100
				} else {
					total += cur * sc.v
					cur = 0
				}
			}
		}
		if !found {
			return 0, &EvalError{Code: "D3137", Msg: fmt.Sprintf("Unable to parse '%s' as words", s)}
		}
	}
	return total + cur, nil
}

func isDecimalPicture(pic string) bool {
	switch pic {
	case "i", "I", "w", "W", "Ww", "a", "A":
		return false
	}
	return true
}
