package agent

import (
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// testLauncher is the launcher of this test binary: the agent's nodes
// are re-executed copies of it, which TestMain turns into the node.
var testLauncher = mustTestLauncher()

func TestMain(m *testing.M) {
	if code, isChild := testLauncher.RunChild(); isChild {
		os.Exit(code)
	}
	if os.Getenv(envAgentProcess) != "" {
		os.Exit(agentProcess())
	}
	// The nodes are copies of this binary: under -race, each would sleep
	// 1 s on exit (GORACE atexit_sleep_ms) before its parent sees it end.
	// Races in them are still reported.
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	goleak.VerifyTestMain(m)
}
