package supervise

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if code, isChild := testLauncher.RunChild(); isChild {
		os.Exit(code)
	}
	if code, isHelper := runHelper(); isHelper {
		os.Exit(code)
	}
	goleak.VerifyTestMain(m)
}
