package asl

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// duplicateKeys reports object keys that appear twice; encoding/json keeps
// the last one silently, AWS rejects the definition.
func duplicateKeys(src []byte) Issues {
	if len(src) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	var out Issues
	var walk func(ptr string) error
	walk = func(ptr string) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				k := kt.(string)
				if seen[k] {
					loc := ptr
					if loc == "" {
						loc = "/"
					}
					out = append(out, Issue{Code: codeSchema, Location: loc,
						Message: fmt.Sprintf("Duplicate field '%s'", k)})
				}
				seen[k] = true
				if err := walk(ptr + "/" + escapePtr(k)); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		case json.Delim('['):
			i := 0
			for dec.More() {
				if err := walk(fmt.Sprintf("%s/%d", ptr, i)); err != nil {
					return err
				}
				i++
			}
			_, err = dec.Token()
			return err
		}
		return nil
	}
	_ = walk("")
	return out
}
