package config

import (
	"encoding/json"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

var configType = reflect.TypeFor[Config]()

// checkShape compares a decoded JSON document with the Go type it will be
// unmarshalled into, reporting every unknown field, null, wrong JSON type
// and non-integral number with its path. encoding/json alone stops at the
// first of these and ignores unknown fields.
func checkShape(ps *problems, path string, v any, t reflect.Type) {
	if v == nil {
		ps.add(fieldName(path), "null is not allowed; omit the field to use its default")
		return
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			ps.add(fieldName(path), "must be an object, not %s", jsonKind(v))
			return
		}
		fields := map[string]reflect.Type{}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name != "" && name != "-" {
				fields[name] = f.Type
			}
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ft, ok := fields[k]
			if !ok {
				ps.add(join(path, k), "unknown field")
				continue
			}
			checkShape(ps, join(path, k), obj[k], ft)
		}
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			ps.add(fieldName(path), "must be an array, not %s", jsonKind(v))
			return
		}
		for i, e := range arr {
			checkShape(ps, path+"["+strconv.Itoa(i)+"]", e, t.Elem())
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			ps.add(fieldName(path), "must be a string, not %s", jsonKind(v))
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			ps.add(fieldName(path), "must be true or false, not %s", jsonKind(v))
		}
	case reflect.Int:
		n, ok := v.(json.Number)
		if !ok {
			ps.add(fieldName(path), "must be a whole number, not %s", jsonKind(v))
			return
		}
		if _, err := n.Int64(); err != nil {
			ps.add(fieldName(path), "must be a whole number, not %s", n)
		}
	case reflect.Float64:
		n, ok := v.(json.Number)
		if !ok {
			ps.add(fieldName(path), "must be a number, not %s", jsonKind(v))
			return
		}
		if _, err := n.Float64(); err != nil {
			ps.add(fieldName(path), "must be a number, not %s", n)
		}
	default:
		panic("config: no shape rule for " + t.String())
	}
}

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	}
	return "null"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func fieldName(path string) string {
	if path == "" {
		return "(document)"
	}
	return path
}
