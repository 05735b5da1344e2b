package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gozmp/zmp/bench/hitratio"
)

// TestHitratioJSON runs the subcommand on small traces and checks the
// JSON: a row per trace and capacity, a result per policy with counts
// that add up, and a golang-lru gap consistent with the results.
func TestHitratioJSON(t *testing.T) {
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	args := []string{"zmpbench", "hitratio", "--keys", "2000", "--length", "30000", "--capacities", "1%,200", "--seed", "3", "--json", "--out", out}
	if code := run(args, strings.NewReader(""), &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	var rep hitratioReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout.String())
	}
	if len(rep.Rows) != 4 {
		t.Fatalf("%d rows, want 2 traces × 2 capacities", len(rep.Rows))
	}
	wantTraces := []string{"zipf", "zipf", "oltp", "oltp"}
	wantCaps := []int{20, 200, 20, 200}
	for i, row := range rep.Rows {
		if row.Trace != wantTraces[i] || row.Capacity != wantCaps[i] || row.Requests != 30000 {
			t.Errorf("row %d: %s at %d, %d requests", i, row.Trace, row.Capacity, row.Requests)
		}
		checkRow(t, row, len(rep.Config.Policies))
	}
	if !strings.Contains(stderr.String(), "hitratio: zipf 20 (1%) arc") {
		t.Errorf("no progress on stderr:\n%s", stderr.String())
	}
	for _, f := range []string{hitratioMarkdown, hitratioJSON} {
		if fi, err := os.Stat(filepath.Join(out, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func checkRow(t *testing.T, row hitratio.Row, policies int) {
	t.Helper()
	if len(row.Results) != policies {
		t.Fatalf("%s %d: %d results, want %d", row.Trace, row.Capacity, len(row.Results), policies)
	}
	best := map[string]float64{}
	for _, r := range row.Results {
		if r.Hits+r.Misses != r.Requests || r.Requests != 30000 || r.HitRatio != float64(r.Hits)/float64(r.Requests) {
			t.Errorf("%s %s: %+v", row.Trace, r.Policy, r)
		}
		// No policy beats an unbounded cache.
		if r.Misses < int64(row.Distinct) {
			t.Errorf("%s %s: %d misses, fewer than %d distinct keys", row.Trace, r.Policy, r.Misses, row.Distinct)
		}
		best[r.Family] = max(best[r.Family], r.HitRatio)
	}
	g, ok := lruGap(row)
	if !ok {
		t.Fatalf("%s %d: no golang-lru gap", row.Trace, row.Capacity)
	}
	if g.BestRatio != best[hitratio.FamilyGolangLRU] || g.ReferenceRatio != best[hitratio.FamilyTinyLFU] || g.Within != (g.Points <= 2) {
		t.Errorf("gap %+v, best %v", g, best)
	}
}

// TestHitratioTable checks the text output of one policy pair.
func TestHitratioTable(t *testing.T) {
	var stdout, stderr bytes.Buffer
	args := []string{"zmpbench", "hitratio", "--trace", "zipf", "--keys", "1000", "--length", "5000", "--capacities", "50", "--policies", "arc,otter"}
	if code := run(args, strings.NewReader(""), &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	s := stdout.String()
	for _, want := range []string{"trace  capacity", "arc", "otter", "zipf at 50 (5%): best golang-lru arc", "points"} {
		if !strings.Contains(s, want) {
			t.Errorf("no %q in\n%s", want, s)
		}
	}
	if strings.Contains(s, "oltp") || strings.Contains(s, "ristretto") {
		t.Errorf("trace or policy not asked for:\n%s", s)
	}
}

func TestHitratioUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"zmpbench", "hitratio", "--trace", "bogus"},
		{"zmpbench", "hitratio", "--trace", ""},
		{"zmpbench", "hitratio", "--keys", "0"},
		{"zmpbench", "hitratio", "--length", "-5"},
		{"zmpbench", "hitratio", "--capacities", "0%"},
		{"zmpbench", "hitratio", "--capacities", "150%"},
		{"zmpbench", "hitratio", "--capacities", "ten"},
		{"zmpbench", "hitratio", "--capacities", "0"},
		{"zmpbench", "hitratio", "--keys", "50", "--capacities", "0.1%"},
		{"zmpbench", "hitratio", "--policies", "lfu"},
		{"zmpbench", "hitratio", "--policies", ","},
		{"zmpbench", "hitratio", "--zipf-s", "-1"},
		{"zmpbench", "hitratio", "--seed", "x"},
		{"zmpbench", "hitratio", "--no-such-flag"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(args, strings.NewReader(""), &stdout, &stderr); code != exitUsage {
			t.Errorf("%q: exit %d, want %d\n%s", args, code, exitUsage, stderr.String())
		}
	}
}

func TestHitratioEnv(t *testing.T) {
	t.Setenv("ZMP_BENCH_TRACE", "bogus")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"zmpbench", "hitratio"}, strings.NewReader(""), &stdout, &stderr); code != exitUsage {
		t.Errorf("ZMP_BENCH_TRACE=bogus: exit %d, want %d\n%s", code, exitUsage, stderr.String())
	}
}
