package harness

import (
	"bytes"
	"testing"

	"go.uber.org/goleak"

	"github.com/gozmp/zmp/bench/spec"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSummariseTakesMediansOfSuccessfulRuns(t *testing.T) {
	v := spec.Variant{Case: spec.RTT, Transport: spec.TCP, Size: spec.Small, Inflight: 1}
	m := func(rep int, p50 float64, err string) Measurement {
		return Measurement{System: "zmp", ID: v.ID(), Variant: v, Rep: rep, Metrics: map[string]float64{spec.P50: p50}, Error: err,
			Server: map[string]float64{"served": p50}}
	}
	s := Summarise([]Measurement{m(1, 30, ""), m(2, 10, ""), m(3, 20, ""), m(4, 99, "failed"), m(5, 40, "")})
	if len(s) != 1 {
		t.Fatalf("%d summaries", len(s))
	}
	got := s[0]
	if got.Runs != 4 || len(got.Errors) != 1 || got.Median[spec.P50] != 25 || got.Min[spec.P50] != 10 || got.Max[spec.P50] != 40 || got.Stats["served"] != 25 {
		t.Errorf("summary %+v", got)
	}
}

func TestPrefixWriterWritesWholeLines(t *testing.T) {
	var b bytes.Buffer
	w := newPrefixWriter(&lockedWriter{w: &b}, "[x] ")
	w.Write([]byte("one\ntw"))
	w.Write([]byte("o\n"))
	if got, want := b.String(), "[x] one\n[x] two\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestJobArgsRoundTripFlags(t *testing.T) {
	j := Job{System: "zmp", Variant: spec.Variant{Case: spec.Fanout, Transport: spec.TCP, Size: 64, Subs: 4}, Dir: "/d", Addr: "a", CPUs: "0"}
	args := j.Args(RoleDrive)
	if args[0] != RoleDrive || len(args) != 23 {
		t.Errorf("args %q", args)
	}
}

func TestStatusKiB(t *testing.T) {
	if n, err := statusKiB("self", "VmHWM"); err != nil || n <= 0 {
		t.Errorf("VmHWM = %d, %v", n, err)
	}
	if _, err := statusKiB("self", "NoSuchField"); err == nil {
		t.Error("no error for a missing field")
	}
}

func TestResolveCPUs(t *testing.T) {
	if cpu, err := ResolveCPUs("auto"); err != nil || cpu == "" {
		t.Errorf("auto: %q, %v", cpu, err)
	}
	if _, err := ResolveCPUs("0,x"); err == nil {
		t.Error("no error for a bad list")
	}
}
