package jsonata

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"time"

	"github.com/blues/jsonata-go/jlib"
	"github.com/blues/jsonata-go/jtypes"
	"github.com/google/uuid"

	"github.com/mailflow/mailflow/asl/internal/jsonvalue"
)

// builtin is a function implemented on reflect values, bound as a
// parameter of the compiled lambda.
type builtin struct {
	name string
	call func(args []reflect.Value) (reflect.Value, error)
}

func (b *builtin) Name() string                                     { return b.name }
func (b *builtin) ParamCount() int                                  { return 0 }
func (b *builtin) Call(args []reflect.Value) (reflect.Value, error) { return b.call(args) }

// standardFuncs are the JSONata functions the base library binds itself.
var standardFuncs = map[string]bool{}

func init() {
	for _, n := range strings.Fields(`string length substring substringBefore substringAfter uppercase lowercase
		pad trim contains split join match replace formatNumber formatBase decodeUrl decodeUrlComponent encodeUrl
		encodeUrlComponent number abs floor ceil round power sqrt sum max min average boolean not exists distinct
		count reverse sort shuffle zip append map filter reduce each sift keys lookup spread merge fromMillis
		toMillis type error`) {
		standardFuncs[n] = true
	}
}

// runtimeFuncs read the execution's clock and generators.
var runtimeFuncs = map[string]bool{"now": true, "millis": true, "random": true, "uuid": true}

// awsFuncs are the functions added to the base library.
var awsFuncs map[string]*builtin

func init() {
	awsFuncs = map[string]*builtin{
		"single":        {name: "single", call: fnSingle},
		"assert":        {name: "assert", call: fnAssert},
		"formatInteger": {name: "formatInteger", call: fnFormatInteger},
		"parseInteger":  {name: "parseInteger", call: fnParseInteger},
		"base64encode":  {name: "base64encode", call: fnBase64Encode},
		"base64decode":  {name: "base64decode", call: fnBase64Decode},
		"partition":     {name: "partition", call: fnPartition},
		"range":         {name: "range", call: fnRange},
		"hash":          {name: "hash", call: fnHash},
		"parse":         {name: "parse", call: fnParse},
	}
}

var undefined reflect.Value

func arg(args []reflect.Value, i int) reflect.Value {
	if i < len(args) {
		return jtypes.Resolve(args[i])
	}
	return undefined
}

func sigErr(i int, name string) error {
	return &EvalError{Code: "T0410", Msg: fmt.Sprintf("Argument %d of function \"%s\" does not match function signature", i, name)}
}

func numArg(args []reflect.Value, i int, name string) (float64, bool, error) {
	v := arg(args, i)
	if !v.IsValid() {
		return 0, false, nil
	}
	f, ok := jtypes.AsNumber(v)
	if !ok {
		return 0, false, sigErr(i+1, name)
	}
	return f, true, nil
}

func strArg(args []reflect.Value, i int, name string) (string, bool, error) {
	v := arg(args, i)
	if !v.IsValid() {
		return "", false, nil
	}
	s, ok := jtypes.AsString(v)
	if !ok {
		return "", false, sigErr(i+1, name)
	}
	return s, true, nil
}

func arrayOf(v reflect.Value) []reflect.Value {
	if !v.IsValid() {
		return nil
	}
	if jtypes.IsArray(v) {
		out := make([]reflect.Value, v.Len())
		for i := range out {
			out[i] = v.Index(i)
		}
		return out
	}
	return []reflect.Value{v}
}

func fnSingle(args []reflect.Value) (reflect.Value, error) {
	items := arrayOf(arg(args, 0))
	var pred jtypes.Callable
	if p := arg(args, 1); p.IsValid() {
		c, ok := jtypes.AsCallable(p)
		if !ok {
			return undefined, sigErr(2, "single")
		}
		pred = c
	}
	var found reflect.Value
	n := 0
	for i, it := range items {
		if pred != nil {
			pargs := []reflect.Value{it, reflect.ValueOf(float64(i)), arg(args, 0)}
			if pc := pred.ParamCount(); pc > 0 && pc < len(pargs) {
				pargs = pargs[:pc]
			}
			r, err := pred.Call(pargs)
			if err != nil {
				return undefined, err
			}
			if !jlib.Boolean(r) {
				continue
			}
		}
		n++
		found = it
		if n > 1 {
			return undefined, &EvalError{Code: "D3138", Msg: "The $single() function expected exactly 1 matching result.  Instead it matched more."}
		}
	}
	if n == 0 {
		return undefined, &EvalError{Code: "D3139", Msg: "The $single() function expected exactly 1 matching result.  Instead it matched 0."}
	}
	return found, nil
}

func fnAssert(args []reflect.Value) (reflect.Value, error) {
	c := arg(args, 0)
	b, ok := jtypes.AsBool(c)
	if !ok {
		return undefined, &EvalError{Code: "T0410", Msg: "Argument 1 of function \"assert\" does not match function signature"}
	}
	if !b {
		msg, _, _ := strArg(args, 1, "assert")
		if msg == "" {
			msg = "$assert() statement failed"
		}
		return undefined, &EvalError{Code: "D3141", Msg: msg}
	}
	return undefined, nil
}

func fnBase64Encode(args []reflect.Value) (reflect.Value, error) {
	s, ok, err := strArg(args, 0, "base64encode")
	if err != nil || !ok {
		return undefined, err
	}
	return reflect.ValueOf(base64.StdEncoding.EncodeToString([]byte(s))), nil
}

func fnBase64Decode(args []reflect.Value) (reflect.Value, error) {
	s, ok, err := strArg(args, 0, "base64decode")
	if err != nil || !ok {
		return undefined, err
	}
	b, derr := base64.StdEncoding.DecodeString(s)
	if derr != nil {
		return undefined, &EvalError{Code: "D3137", Msg: "The string could not be decoded from base64"}
	}
	return reflect.ValueOf(string(b)), nil
}

// intArg reads an integer argument as AWS's functions do: a fraction is
// dropped (rounded towards zero).
func intArg(args []reflect.Value, i int, name string) (int64, bool, error) {
	f, ok, err := numArg(args, i, name)
	if err != nil || !ok {
		return 0, ok, err
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false, sigErr(i+1, name)
	}
	return int64(math.Trunc(f)), true, nil
}

// fnPartition is AWS's $partition(array, size): chunks of size items, the
// last one holding the remainder. An empty array or a size below one
// yields nothing.
func fnPartition(args []reflect.Value) (reflect.Value, error) {
	a := arg(args, 0)
	if !a.IsValid() {
		return undefined, nil
	}
	items := arrayOf(a)
	size, ok, err := intArg(args, 1, "partition")
	if err != nil {
		return undefined, err
	}
	if !ok || size < 1 || len(items) == 0 {
		return undefined, nil
	}
	n := int(min(size, int64(len(items))))
	out := make([]any, 0, (len(items)+n-1)/n)
	for i := 0; i < len(items); i += n {
		end := min(i+n, len(items))
		chunk := make([]any, 0, end-i)
		for _, it := range items[i:end] {
			chunk = append(chunk, it.Interface())
		}
		out = append(out, chunk)
	}
	return reflect.ValueOf(out), nil
}

// rangeLimit is the most items $range builds, as AWS allows.
const rangeLimit = 360145

// fnRange is AWS's $range(start, end, step): start, start+step, ... up to
// end inclusive. A missing step, or one whose sign disagrees with the
// direction, yields nothing; like a JSONata sequence, one value is returned
// as itself.
func fnRange(args []reflect.Value) (reflect.Value, error) {
	var v [3]int64
	for i := range v {
		n, ok, err := intArg(args, i, "range")
		if err != nil {
			return undefined, err
		}
		if !ok {
			return undefined, nil
		}
		v[i] = n
	}
	start, end, step := v[0], v[1], v[2]
	if step == 0 || (end > start && step < 0) || (end < start && step > 0) {
		return undefined, nil
	}
	count := (end-start)/step + 1
	if count > rangeLimit {
		return undefined, &EvalError{Msg: "Expression evaluation memory limit exceeded"}
	}
	out := make([]any, 0, count)
	for x := start; (step > 0 && x <= end) || (step < 0 && x >= end); x += step {
		out = append(out, float64(x))
	}
	if len(out) == 1 {
		return reflect.ValueOf(out[0]), nil
	}
	return reflect.ValueOf(out), nil
}

func fnHash(args []reflect.Value) (reflect.Value, error) {
	s, ok, err := strArg(args, 0, "hash")
	if err != nil || !ok {
		return undefined, err
	}
	alg, ok, err := strArg(args, 1, "hash")
	if err != nil || !ok {
		// no algorithm: nothing, as AWS answers
		return undefined, err
	}
	var h hash.Hash
	switch alg {
	case "MD5":
		h = md5.New()
	case "SHA-1":
		h = sha1.New()
	case "SHA-256":
		h = sha256.New()
	case "SHA-384":
		h = sha512.New384()
	case "SHA-512":
		h = sha512.New()
	default:
		return undefined, &EvalError{Code: "D3137", Msg: fmt.Sprintf("The hash algorithm '%s' is not supported; use one of MD5, SHA-1, SHA-256, SHA-384, SHA-512", alg)}
	}
	h.Write([]byte(s))
	return reflect.ValueOf(hex.EncodeToString(h.Sum(nil))), nil
}

func fnParse(args []reflect.Value) (reflect.Value, error) {
	s, ok, err := strArg(args, 0, "parse")
	if err != nil || !ok {
		return undefined, err
	}
	v, derr := jsonvalue.Decode([]byte(s))
	if derr != nil {
		return undefined, &EvalError{Code: "D3137", Msg: fmt.Sprintf("The $parse function could not parse the string as JSON: %s", s)}
	}
	return reflect.ValueOf(toJInPlace(v)), nil
}

// runtimeFunc binds now, millis, random and uuid to the execution's
// dependencies.
func runtimeFunc(name string, rt *Runtime) *builtin {
	nowMS := func() int64 {
		if rt != nil && rt.NowMillis != nil {
			return rt.NowMillis()
		}
		return time.Now().UnixMilli()
	}
	switch name {
	case "now":
		return &builtin{name: name, call: func(args []reflect.Value) (reflect.Value, error) {
			var pic, tz jtypes.OptionalString
			if s, ok, _ := strArg(args, 0, name); ok {
				pic = jtypes.NewOptionalString(s)
			}
			if s, ok, _ := strArg(args, 1, name); ok {
				tz = jtypes.NewOptionalString(s)
			}
			s, err := jlib.FromMillis(nowMS(), pic, tz)
			if err != nil {
				return undefined, err
			}
			return reflect.ValueOf(s), nil
		}}
	case "millis":
		return &builtin{name: name, call: func([]reflect.Value) (reflect.Value, error) {
			return reflect.ValueOf(float64(nowMS())), nil
		}}
	case "random":
		return &builtin{name: name, call: func(args []reflect.Value) (reflect.Value, error) {
			if seed := arg(args, 0); seed.IsValid() {
				h := fnv.New64a()
				fmt.Fprint(h, seed.Interface())
				r := rand.New(rand.NewPCG(h.Sum64(), 0x9e3779b97f4a7c15))
				return reflect.ValueOf(r.Float64()), nil
			}
			if rt != nil && rt.Random != nil {
				return reflect.ValueOf(rt.Random()), nil
			}
			return reflect.ValueOf(rand.Float64()), nil
		}}
	default: // uuid
		return &builtin{name: name, call: func([]reflect.Value) (reflect.Value, error) {
			if rt != nil && rt.UUID != nil {
				return reflect.ValueOf(rt.UUID()), nil
			}
			return reflect.ValueOf(uuid.NewString()), nil
		}}
	}
}
