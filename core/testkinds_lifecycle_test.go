package core

import (
	"context"
	"time"
)

// Test node kinds for the lifecycle regressions in node_lifecycle_test.go.

// panicValue is what panicking test behaviours panic with.
const panicValue = "kaboom on purpose"

// panickerKind panics in its first update.
func panickerKind() Behavior {
	return Behavior{Update: func(context.Context, *Peer, time.Duration) error { panic(panicValue) }}
}
