package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestFeedbackUsage(t *testing.T) {
	checkRunCases(t, []runCase{
		{"help", []string{"feedback", "--help"}, exitOK, "zmptool feedback", ""},
		{"sim help", []string{"feedback", "sim", "--help"}, exitOK, "--loop", ""},
		{"unknown subcommand", []string{"feedback", "draw"}, exitUsage, "", `unknown feedback command "draw"`},
		{"loop required", []string{"feedback", "sim"}, exitUsage, "", "loop"},
		{"unknown loop", []string{"feedback", "sim", "--loop", "nope"}, exitUsage, "", `unknown loop "nope"`},
		{"limiters where they do not apply", []string{"feedback", "sim", "--loop", "fixed", "--limiters", "aimd"}, exitUsage, "", "--limiters does not apply"},
		{"duration too short for the scenario", []string{"feedback", "sim", "--loop", "fixed", "--duration", "1s"}, exitUsage, "", "Duration"},
		{"negative duration", []string{"feedback", "sim", "--loop", "fixed", "--duration", "-1s"}, exitUsage, "", "--duration"},
		{"extra argument", []string{"feedback", "sim", "--loop", "fixed", "x"}, exitUsage, "", "takes no arguments"},
		{"loops", []string{"feedback", "loops"}, exitOK, "fixed", ""},
		{"loops lists every loop", []string{"feedback", "loops"}, exitOK, "workers", ""},
		{"latency with chosen limiters", []string{"feedback", "sim", "--loop", "latency", "--limiters", "LatencyTarget,envoy", "--duration", "8s"}, exitOK, "Envoy overload goodput", ""},
		{"latency with an unknown limiter", []string{"feedback", "sim", "--loop", "latency", "--limiters", "TCP"}, exitUsage, "", `unknown limiter "TCP"`},
		{"unwritable output", []string{"feedback", "sim", "--loop", "fixed", "--out", "/nonexistent/dir/x.svg"}, exitFailure, "", "nonexistent"},
	})
}

func TestFeedbackSimJSONAndFiles(t *testing.T) {
	dir := t.TempDir()
	svg, csv := filepath.Join(dir, "t.svg"), filepath.Join(dir, "t.csv")
	code, stdout, stderr := runTool("feedback", "sim", "--loop", "fixed", "--seed", "7", "--json", "--out", svg, "--csv", csv)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got struct {
		Loop    string `json:"loop"`
		Seed    uint64 `json:"seed"`
		Windows int    `json:"windows"`
		Metrics []struct {
			Name  string  `json:"name"`
			Value float64 `json:"value"`
		} `json:"metrics"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("--json output %q: %v", stdout, err)
	}
	if got.Loop != "fixed" || got.Seed != 7 || got.Windows != 300 || len(got.Metrics) == 0 {
		t.Fatalf("report %+v", got)
	}
	for _, f := range []string{svg, csv} {
		b, err := os.ReadFile(f)
		if err != nil || len(b) == 0 {
			t.Fatalf("%s: %v, %d bytes", f, err, len(b))
		}
	}
	// The SVG on stdout is the file's bytes, and the figures go to stderr.
	code, stdout2, stderr2 := runTool("feedback", "sim", "--loop", "fixed", "--seed", "7", "--out", "-")
	want, _ := os.ReadFile(svg)
	if code != exitOK || stdout2 != string(want) || !strings.Contains(stderr2, "fixed, seed 7") {
		t.Fatalf("--out -: exit %d, stdout equal to the file: %v, stderr %q", code, stdout2 == string(want), stderr2)
	}
}

// TestFeedbackDocsPlots checks that every plot of docs/feedback.md is
// what `zmptool feedback sim --loop NAME --out docs/feedback-NAME.svg`
// draws now, for every loop the tool knows. Regenerate them with
// `make feedback-plots` (ZMP_UPDATE_PLOTS=1 go test -run TestFeedbackDocsPlots ./cmd/zmptool/).
func TestFeedbackDocsPlots(t *testing.T) {
	update := os.Getenv("ZMP_UPDATE_PLOTS") == "1"
	if !update && runtime.GOARCH != "amd64" {
		t.Skip("the plots were drawn on amd64; other architectures may fuse multiply-adds and round differently")
	}
	for _, sc := range simScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), sc.name+".svg")
			if code, _, stderr := runTool("feedback", "sim", "--loop", sc.name, "--out", out); code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			drawn, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("..", "..", "docs", "feedback-"+sc.name+".svg")
			if update {
				if err := os.WriteFile(path, drawn, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			have, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("every loop needs its plot in docs: %v", err)
			}
			if !bytes.Equal(have, drawn) {
				t.Fatalf("%s differs from what zmptool draws now; regenerate with make feedback-plots", path)
			}
		})
	}
}
