package core

import "encoding/json"

// Codec turns values into message bodies and back. It is used by the
// typed helpers (Provide, Call, Publish, Subscribe ...); the raw
// methods of Peer take bytes and bypass it.
type Codec interface {
	Name() string
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// JSON is the default codec: language-neutral, so a client in any
// language can call a zmp service (see docs/protocol.md).
type JSON struct{}

// Name returns "json".
func (JSON) Name() string { return "json" }

// Marshal encodes v as JSON.
func (JSON) Marshal(v any) ([]byte, error) { return json.Marshal(v) }

// Unmarshal decodes JSON data into v.
func (JSON) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }
