// Package intrinsic parses and evaluates the Amazon States Language intrinsic
// functions (States.Format, States.StringToJson, ... States.UUID) of JSONPath
// states, with the semantics AWS Step Functions shows.
//
// An expression is parsed once (Parse) into an immutable tree and evaluated
// many times (Expr.Eval), concurrently if need be. Path arguments ($..., $$...,
// $var...) are kept as raw text and handed to a Resolver supplied by the
// caller, whose errors are returned unchanged.
//
// # Values
//
// Values are the trees encoding/json produces with UseNumber: map[string]any,
// []any, string, json.Number, bool and nil. Results may share sub-trees with
// the values the resolver returned (States.Array($.obj) holds $.obj itself);
// callers must treat both as immutable.
//
// # Decisions where the AWS documentation is silent
//
// Step Functions runs on the JVM and its recorded behaviour shows it, so the
// gaps are filled with what the Java/Jackson stack does:
//
//   - Numbers: integral JSON numbers are Java integers, numbers with a
//     fraction or exponent are Java doubles. Where a number is turned into
//     text (States.Format, States.JsonToString) integers print as their digits
//     and doubles as Java's Double.toString does (1.0, 1.0E10, 1.0E-4).
//   - "Integer" arguments (States.MathAdd, States.ArrayRange,
//     States.ArrayPartition, States.ArrayGetItem, States.MathRandom) accept
//     any number and are rounded with Java's Math.round, half up: 2.5 gives 3
//     and -2.5 gives -2. AWS's recorded States.MathAdd results prove this
//     rule; the other functions are documented to round the same way.
//   - States.Format renders a non-string argument the way Java's toString
//     renders the converted value: null, true, 1, 1.1, {a=1, b=[x, y]} and
//     [1, 2]. Strings inside objects and arrays are not quoted, as AWS shows.
//   - Object key order: AWS keeps document order; the value model here
//     (map[string]any) has none, so keys are written in sorted order.
//   - Equality (States.ArrayContains, States.ArrayUnique) is Jackson node
//     equality: an integer never equals a double (1 and 1.0 differ), doubles
//     compare like Double.equals, objects ignore key order.
//   - States.StringToJson parses like Jackson's readTree: an empty or blank
//     string gives null (AWS returns null for "" and " "); the first JSON
//     value is taken and trailing text is ignored.
//   - States.StringSplit splits like java.util.StringTokenizer: every
//     character of the second argument is a delimiter and empty tokens are
//     dropped (",,,," gives []), as AWS shows.
//   - States.MathRandom returns an integer in [start, end). With a seed it
//     uses java.util.Random(seed).nextInt(end-start)+start, so a seed always
//     gives the same number, as documented; without one it uses Env.Random.
//   - States.Base64Decode decodes like Java's basic decoder (padding optional,
//     no line breaks or blanks) and turns the bytes into text as Java's UTF-8
//     decoder does, one U+FFFD per malformed sequence.
//   - Length limits (10,000 characters for Base64 and Hash input, 1,000
//     items for States.ArrayRange) count UTF-16 code units, as Java does.
//
// # Errors
//
// Parse reports syntax errors, unknown function names, wrong argument counts,
// literal arguments of a type the function can never accept (such as
// States.MathAdd(1, '-1')) and nesting deeper than 10 calls as *Error with
// Name ErrValidation; AWS
// rejects such definitions with "The value for the field '<key>' must be a
// valid JSONPath or a valid intrinsic function call" (see ValidationMessage),
// which needs the field name only the caller knows.
//
// Eval reports argument errors as *Error with Name ErrRuntime and a Cause of
// the form "The function '<expression>' had the following error: <detail>"
// (CauseFormat), the form AWS's own interpreter uses. The caller prefixes the
// state part ("An error occurred while executing the state ...") as for any
// other States.Runtime failure.
package intrinsic
