package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The three child-process nodes move data: the sink's count grows.
func TestPipelineMovesData(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "pipeline")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "ZMP_RUNTIME_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pipeline: %v\n%s", err, out)
	}
	counts := regexp.MustCompile(`sink has (\d+) squares`).FindAllStringSubmatch(string(out), -1)
	if len(counts) != 5 {
		t.Fatalf("want 5 reports, got:\n%s", out)
	}
	first, _ := strconv.Atoi(counts[0][1])
	last, _ := strconv.Atoi(counts[4][1])
	if last <= first {
		t.Fatalf("sink count did not grow (%d → %d):\n%s", first, last, out)
	}
}
