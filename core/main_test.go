package core

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// testLauncher is the launcher of this test binary: child-process tests
// re-execute the binary, and TestMain turns that copy into the node.
var testLauncher = mustTestLauncher()

func TestMain(m *testing.M) {
	if code, isChild := testLauncher.RunChild(); isChild {
		os.Exit(code)
	}
	goleak.VerifyTestMain(m)
}
