package consensus

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if stRunHelperProcess() {
		return
	}
	goleak.VerifyTestMain(m)
}
