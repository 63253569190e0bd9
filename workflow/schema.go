package workflow

import _ "embed"

// MessageSchemaV1 is the JSON Schema (draft 2020-12) of message version 1,
// for producers written in other languages. Deployment rules (allowed
// senders, attachment prefix, size bound) are checked only by [Parse].
//
//go:embed schema/message.v1.json
var MessageSchemaV1 []byte

// OutcomeEventSchemaV1 is the JSON Schema (draft 2020-12) of the outcome
// event version 1 ([OutcomeEvent]) that producers receive.
//
//go:embed schema/outcome-event.v1.json
var OutcomeEventSchemaV1 []byte
