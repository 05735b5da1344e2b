package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gozmp/zmp/bench/harness"
	"github.com/gozmp/zmp/bench/report"
	"github.com/gozmp/zmp/bench/spec"
)

// TestScaleCompare runs the quick scale cases alone, as worker
// processes (this test binary), and checks that every point has its
// figures, that growth was computed from them, and that the report
// files carry the scale section. Without a zmptool binary beside the
// workers the `list nodes` figure is left out, and the run says so.
func TestScaleCompare(t *testing.T) {
	if testing.Short() {
		t.Skip("starts about 20 pairs of processes, one with 100 peers")
	}
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	args := []string{"zmpbench", "compare", "--quick", "--cases", "none", "--scale", "all", "--scale-samples", "2", "--out", out}
	if code := run(args, strings.NewReader(""), &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	if strings.Contains(stderr.String(), "DATA RACE") {
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
	if r.Scale == nil || len(r.Measurements) != 0 {
		t.Fatalf("want scale results only: scale %v, %d measurements", r.Scale != nil, len(r.Measurements))
	}
	pts := spec.ScaleMatrix(spec.ScaleCases, true)
	if len(r.Scale.Summaries) != len(pts) {
		t.Fatalf("%d summaries for %d points", len(r.Scale.Summaries), len(pts))
	}
	noList := r.Scale.Note != ""
	for _, s := range r.Scale.Summaries {
		if s.Runs != 1 {
			t.Errorf("%s: no successful run: %v", s.ID, s.Errors)
			continue
		}
		for _, m := range spec.ScaleMetrics(s.Point.Case) {
			_, ok := s.Median[m]
			switch {
			case m == spec.ListNodesMs && noList:
			case m == spec.AdvertiseMs || m == spec.RSSPerConnKiB || m == spec.RSSPerConnLoadKiB || m == spec.RSSPerTopicKiB:
				if !ok { // may be negative or zero: a difference of samples
					t.Errorf("%s: no %s", s.ID, m)
				}
			case s.Median[m] <= 0:
				t.Errorf("%s: %s = %v", s.ID, m, s.Median[m])
			}
		}
	}
	if len(r.Scale.Growth) == 0 {
		t.Error("no growth computed")
	}
	for _, g := range r.Scale.Growth {
		if len(g.Steps) != len(g.Sizes)-1 || g.Reading == "" {
			t.Errorf("%s %s: %d steps for %d sizes, reading %q", g.Case, g.Metric, len(g.Steps), len(g.Sizes), g.Reading)
		}
	}
	md, _ := os.ReadFile(filepath.Join(out, report.FileMarkdown))
	svg, _ := os.ReadFile(filepath.Join(out, report.FileSVG))
	if !bytes.Contains(md, []byte("## Scale (zmp)")) || !bytes.Contains(svg, []byte("Scale: ")) {
		t.Errorf("the report files lack the scale section")
	}
}
