package asl

import (
	"errors"
	"sync"

	"github.com/mailflow/mailflow/asl/internal/intrinsic"
)

// intrinsicError is a failed intrinsic call with AWS's name and cause (the
// cause has no state prefix yet).
type intrinsicError struct {
	name, cause string
	offset      int // of the failing call in the expression
}

func (e *intrinsicError) Error() string { return e.name + ": " + e.cause }

type boundIntrinsic struct{ expr *intrinsic.Expr }

// argPaths caches compiled path arguments of intrinsic calls; the set of
// distinct paths is bounded by the definitions parsed.
var argPaths sync.Map // string -> *valueExpr

func init() {
	parseIntrinsic = func(s string) (intrinsicExpr, error) {
		e, err := intrinsic.Parse(s)
		if err != nil {
			return nil, err
		}
		return boundIntrinsic{expr: e}, nil
	}
}

func (b boundIntrinsic) eval(resolve func(string) (any, error), env *evalEnv) (any, error) {
	v, err := b.expr.Eval(intrinsic.Resolver(resolve), intrinsic.Env{
		Random: env.ex.opts.Random,
		UUID:   env.ex.opts.UUID,
	})
	if err != nil {
		var ie *intrinsic.Error
		if errors.As(err, &ie) {
			return nil, &intrinsicError{name: ie.Name, cause: ie.Cause, offset: ie.Offset}
		}
		return nil, err
	}
	return v, nil
}

// resolveArg compiles (once) and evaluates a path argument.
func resolveArg(p string, env *evalEnv) (any, error) {
	c, ok := argPaths.Load(p)
	if !ok {
		x, err := compilePath(p)
		if err != nil {
			return nil, err
		}
		c, _ = argPaths.LoadOrStore(p, x)
	}
	return c.(*valueExpr).eval(env)
}
