package jsonata

import (
	"reflect"

	"github.com/blues/jsonata-go/jparse"
)

// Unsupported reports what AWS refuses in an expression when the state
// machine is created (UNSUPPORTED_JSONATA_EXPRESSION): a reference to the
// context item at the top level (a path starting with a field name, such as
// "phone" instead of "$states.input.phone"), and "$$". Names in later path
// steps, predicates, sort terms, groupings and transforms read the items
// they apply to and are legal; a lambda body keeps the context of the
// expression that defines it. The message is AWS's; "" when the expression
// is accepted.
func (e *Expr) Unsupported() string {
	return unsupported(reflect.ValueOf(e.node), true)
}

func unsupported(v reflect.Value, top bool) string {
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return ""
		}
		switch n := v.Interface().(type) {
		case *jparse.NameNode:
			if top {
				return "Reference to '" + n.Value + "' at the top level is not supported."
			}
			return ""
		case *jparse.VariableNode:
			if n.Name == "$" {
				return "Reference to '$$' is not supported."
			}
			return ""
		case *jparse.PathNode:
			for i, st := range n.Steps {
				if msg := unsupported(reflect.ValueOf(st), top && i == 0); msg != "" {
					return msg
				}
			}
			return ""
		case *jparse.PredicateNode:
			if msg := unsupported(reflect.ValueOf(n.Expr), top); msg != "" {
				return msg
			}
			return unsupported(reflect.ValueOf(n.Filters), false)
		case *jparse.GroupNode:
			if msg := unsupported(reflect.ValueOf(n.Expr), top); msg != "" {
				return msg
			}
			return unsupported(reflect.ValueOf(n.ObjectNode), false)
		case *jparse.SortNode:
			if msg := unsupported(reflect.ValueOf(n.Expr), top); msg != "" {
				return msg
			}
			return unsupported(reflect.ValueOf(n.Terms), false)
		case *jparse.ObjectTransformationNode:
			return unsupported(reflect.ValueOf(*n), false)
		}
		return unsupported(v.Elem(), top)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if !v.Type().Field(i).IsExported() {
				continue
			}
			if msg := unsupported(v.Field(i), top); msg != "" {
				return msg
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			if msg := unsupported(v.Index(i), top); msg != "" {
				return msg
			}
		}
	}
	return ""
}
