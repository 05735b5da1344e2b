package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The measurement runs on real processes: the service in a child
// process of the example's binary, the load from the parent, once
// without a limiter and once with each limiter. Only that it ran and
// measured is checked, not how well the limiters did: the figures
// depend on the machine's load.
func TestInterceptOverloadExample(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "feedback-overload")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-limiter", "target,envoy,vegas-w,gradient2", "-duration", "1s", "-warmup", "300ms", "-load", "2")
	cmd.Env = append(os.Environ(), "ZMP_RUNTIME_DIR="+t.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("run: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	t.Logf("\n%s", stdout.String())
	rows := map[string][]string{}
	for _, line := range strings.Split(stdout.String(), "\n") {
		if f := strings.Fields(line); len(f) == 11 {
			rows[f[0]] = f
		}
	}
	for _, name := range []string{"none", "target", "envoy", "vegas-w", "gradient2"} {
		f, ok := rows[name]
		if !ok {
			t.Fatalf("no row for %s in\n%s", name, stdout.String())
		}
		if sent, err := strconv.Atoi(f[1]); err != nil || sent == 0 {
			t.Errorf("%s: sent %q", name, f[1])
		}
		if name != "none" {
			if !strings.Contains(f[9], "[") {
				t.Errorf("%s: limits %q", name, f[9])
			}
		}
	}
}

// Flags are checked before anything starts.
func TestInterceptOverloadExampleFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-limiter", "nonesuch"},
		{"-workers", "0"},
		{"-load", "0"},
		{"-duration", "0s"},
		{"-handlers", "0"},
	} {
		var stderr bytes.Buffer
		if code := run(args, &bytes.Buffer{}, &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2 (%s)", args, code, stderr.String())
		}
	}
}
