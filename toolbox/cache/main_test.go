package cache

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if runHelperProcess() {
		return
	}
	goleak.VerifyTestMain(m)
}

// runHelperProcess runs the helper the environment asks for, when the
// test binary is re-executed as another process, and reports whether
// it did.
func runHelperProcess() bool {
	switch os.Getenv(helperEnv) {
	case "invalidator":
		runInvalidator()
	default:
		return false
	}
	return true
}
