package consensus

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if stRunHelperProcess() {
		return
	}
	goleak.VerifyTestMain(m,
		// raft's NetworkTransport (the benchmarks compare against it)
		// does not wait for its connection handlers on Close.
		goleak.IgnoreAnyFunction("github.com/hashicorp/raft.(*NetworkTransport).handleConn"))
}
