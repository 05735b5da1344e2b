package main

import (
	"bytes"
	"encoding/json"
	"os"
	"runtime/debug"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// envToolMain makes this test binary zmptool itself, for tests that run
// zmptool as a process (an agent, in network namespaces among others).
const envToolMain = "ZMPTOOL_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(envToolMain) != "" {
		os.Exit(run(os.Args, os.Stdout, os.Stderr))
	}
	// The selftest re-executes this binary as its nodes: be them.
	if l, err := newLauncher(); err == nil {
		if code, isChild := l.RunChild(); isChild {
			os.Exit(code)
		}
	}
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("os/signal.signal_recv"))
}

func runTool(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(append([]string{"zmptool"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// runCase is one zmptool invocation and what it must produce: its exit
// code, and text its stdout and stderr must contain.
type runCase struct {
	name           string
	args           []string
	code           int
	stdout, stderr string
}

func checkRunCases(t *testing.T, tests []runCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runTool(tt.args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tt.code, stderr)
			}
			if !strings.Contains(stdout, tt.stdout) {
				t.Errorf("stdout %q lacks %q", stdout, tt.stdout)
			}
			if !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr %q lacks %q", stderr, tt.stderr)
			}
		})
	}
}

func TestExitCodes(t *testing.T) {
	tests := []runCase{
		{"help", []string{"--help"}, exitOK, "selftest", ""},
		{"version", []string{"--version"}, exitOK, "zmptool version " + version() + "\n", ""},
		{"version, short", []string{"-v"}, exitOK, "zmptool version " + version() + "\n", ""},
		{"help shows the version", []string{"--help"}, exitOK, "--version, -v", ""},
		{"no command shows help", nil, exitOK, "USAGE", ""},
		{"command help", []string{"selftest", "--help"}, exitOK, "--transport", ""},
		{"unknown command", []string{"frobnicate"}, exitUsage, "", "unknown command"},
		{"unknown flag", []string{"--bogus"}, exitUsage, "", "bogus"},
		{"bad flag value", []string{"selftest", "--timeout", "soon"}, exitUsage, "", "timeout"},
		{"bad transport", []string{"selftest", "--transport", "udp"}, exitUsage, "", "tcp or ipc"},
	}
	checkRunCases(t, tests)
}

func TestSelftestEndToEnd(t *testing.T) {
	for _, transport := range []string{"tcp", "ipc"} {
		t.Run(transport, func(t *testing.T) {
			code, stdout, stderr := runTool("selftest", "--json", "--transport", transport)
			var r report
			if err := json.Unmarshal([]byte(stdout), &r); err != nil {
				t.Fatalf("selftest --json output does not parse: %v\n%s\nstderr: %s", err, stdout, stderr)
			}
			for _, c := range r.Checks {
				if !c.Passed {
					t.Errorf("check %q failed: %s", c.Name, c.Error)
				}
			}
			if code != exitOK || !r.Passed || len(r.Checks) < 13 {
				t.Fatalf("exit %d, passed %v, %d checks; stderr: %s", code, r.Passed, len(r.Checks), stderr)
			}
		})
	}
}

func TestVersionOf(t *testing.T) {
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"no build info", nil, "devel"},
		{"no version", &debug.BuildInfo{}, "devel"},
		{"go run, go test", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "devel"},
		{"go install @tag", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, "v1.4.0"},
		{"built from a checkout", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20260101120000-0123456789ab+dirty"}}, "v0.0.0-20260101120000-0123456789ab+dirty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := versionOf(tt.bi); got != tt.want {
				t.Errorf("versionOf = %q, want %q", got, tt.want)
			}
		})
	}
}
