package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// buildExample compiles this example into its own binary.
func buildExample(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rpc")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// A provider and a caller in two separate processes of a separately
// built binary meet through the default registry directory.
func TestServeAndCallAcrossProcesses(t *testing.T) {
	bin := buildExample(t)
	env := append(os.Environ(), "ZMP_RUNTIME_DIR="+t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	serve := exec.CommandContext(ctx, bin, "serve")
	serve.Env = env
	stdout, err := serve.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		serve.Process.Signal(syscall.SIGTERM)
		if err := serve.Wait(); err != nil {
			t.Errorf("serve exited: %v", err)
		}
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.Contains(line, "serving add") {
		t.Fatalf("serve printed %q, %v", line, err)
	}

	call := exec.CommandContext(ctx, bin, "call", "17", "25")
	call.Env = env
	out, err := call.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "42" {
		t.Fatalf("call printed %q, %v", out, err)
	}
}

// The demo starts two child-process providers and calls them.
func TestDemoWithChildProcesses(t *testing.T) {
	bin := buildExample(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "ZMP_RUNTIME_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "add(3, 10) = 13") {
		t.Fatalf("demo: %v\n%s", err, out)
	}
}
