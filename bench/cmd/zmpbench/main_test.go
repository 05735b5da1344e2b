package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/gozmp/zmp/bench/harness"
	"github.com/gozmp/zmp/bench/report"
	"github.com/gozmp/zmp/bench/spec"
	"github.com/gozmp/zmp/bench/systems"
)

// TestMain lets the test binary be its own worker: compare re-executes
// os.Executable() with "serve" or "drive".
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && slices.Contains([]string{roleServe, roleDrive, harness.RoleScaleServe, harness.RoleScaleDrive}, os.Args[1]) {
		os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr))
	}
	goleak.VerifyTestMain(m)
}

// TestSmokeCompare runs the quick comparison of zmp, raw TCP and
// net/rpc, every case, as worker processes, and checks that the JSON
// has a figure for every (variant, system) that applies, and that
// --docs rewrote the results of a page.
func TestSmokeCompare(t *testing.T) {
	if testing.Short() {
		t.Skip("starts about 35 pairs of processes")
	}
	out := t.TempDir()
	page := filepath.Join(out, "page.md")
	kept := "# Page\n\nprose\n"
	if err := os.WriteFile(page, []byte(kept+report.DocsBegin+"\nold\n"+report.DocsEnd+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	args := []string{"zmpbench", "compare", "--quick", "--systems", "zmp,tcp,netrpc", "--scale", "none", "--out", out, "--docs", page}
	if code := run(args, strings.NewReader(""), &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	if strings.Contains(stderr.String(), "DATA RACE") { // workers built with -race
		t.Errorf("a worker raced:\n%s", stderr.String())
	}
	b, err := os.ReadFile(filepath.Join(out, report.FileJSON))
	if err != nil {
		t.Fatal(err)
	}
	var r harness.Run
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	checkFigures(t, &r, []string{"zmp", "tcp", "netrpc"})
	for _, f := range []string{report.FileMarkdown, report.FileSVG} {
		if fi, err := os.Stat(filepath.Join(out, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	if !strings.Contains(stdout.String(), "round trip p50") {
		t.Errorf("no table on stdout:\n%s", stdout.String())
	}
	if doc, err := os.ReadFile(page); err != nil || !strings.HasPrefix(string(doc), kept) || !strings.Contains(string(doc), "round trip p50, CURVE, µs") {
		t.Errorf("--docs did not rewrite the page's results: %v\n%s", err, doc)
	}
	if _, err := os.Stat(filepath.Join(out, "page.svg")); err != nil {
		t.Errorf("--docs wrote no chart: %v", err)
	}
}

// checkFigures wants, for every variant a system runs, a summary of one
// successful run with the case's headline figure and both peak RSSs.
func checkFigures(t *testing.T, r *harness.Run, names []string) {
	t.Helper()
	got := map[[2]string]harness.Summary{}
	for _, s := range r.Summaries {
		got[[2]string{s.ID, s.System}] = s
	}
	for _, v := range spec.Matrix(spec.Cases, []string{spec.TCP, spec.IPC}) {
		for _, name := range names {
			sys, err := systems.Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			if sys.Unsupported(v) != "" {
				continue
			}
			s, ok := got[[2]string{v.ID(), name}]
			if !ok || s.Runs != 1 {
				t.Errorf("%s %s: no successful run: %+v", v.ID(), name, s.Errors)
				continue
			}
			for _, metric := range []string{spec.Headline(v.Case), spec.ServerRSSMiB, spec.ClientRSSMiB} {
				if s.Median[metric] <= 0 {
					t.Errorf("%s %s: %s = %v", v.ID(), name, metric, s.Median[metric])
				}
			}
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"zmpbench"},
		{"zmpbench", "compare", "--systems", "bogus"},
		{"zmpbench", "compare", "--cases", "bogus"},
		{"zmpbench", "compare", "--transports", "udp"},
		{"zmpbench", "compare", "--security", "tls"},
		{"zmpbench", "compare", "--security", "curve", "--transports", "ipc"},
		{"zmpbench", "compare", "--reps", "0"},
		{"zmpbench", "compare", "--no-such-flag"},
		{"zmpbench", "compare", "--scale", "bogus"},
		{"zmpbench", "compare", "--scale-reps", "0"},
		{"zmpbench", "compare", "--cases", "none", "--scale", "none"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(args, strings.NewReader(""), &stdout, &stderr); code != exitUsage {
			t.Errorf("%q: exit %d, want %d\n%s", args, code, exitUsage, stderr.String())
		}
	}
}
