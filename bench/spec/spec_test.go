package spec

import (
	"slices"
	"testing"
)

func TestMatrix(t *testing.T) {
	all := Matrix(Cases, []string{TCP, IPC})
	if len(all) != 18 {
		t.Fatalf("%d variants, want 18", len(all))
	}
	ids := map[string]bool{}
	for _, v := range all {
		if ids[v.ID()] {
			t.Errorf("duplicate id %s", v.ID())
		}
		ids[v.ID()] = true
	}
	tcpRTT := Matrix([]Case{RTT}, []string{TCP})
	if len(tcpRTT) != 2 || tcpRTT[0].ID() != "rtt/tcp" || tcpRTT[1].ID() != "rtt-curve/tcp" {
		t.Errorf("rtt on tcp: %+v", tcpRTT)
	}
	for _, id := range []string{"inflight-256/tcp", "pubsub-4 KiB/ipc", "fanout-16/tcp", "stalled/tcp", "inflight-64-curve/tcp", "pubsub-64 B-curve/tcp"} {
		if !ids[id] {
			t.Errorf("no %s", id)
		}
	}
	if ipc := Matrix(Cases, []string{IPC}); slices.ContainsFunc(ipc, Variant.IsCurve) {
		t.Errorf("a CURVE variant on ipc: %+v", ipc)
	}
}

// Each CURVE variant has its NULL counterpart in the matrix, and says
// CURVE in its title.
func TestCurveVariants(t *testing.T) {
	all := Matrix(Cases, []string{TCP, IPC})
	var curve []Variant
	for _, v := range all {
		if !v.IsCurve() {
			continue
		}
		curve = append(curve, v)
		if !slices.Contains(all, v.Plain()) {
			t.Errorf("%s: no NULL variant %s", v.ID(), v.Plain().ID())
		}
		if v.Title() != v.Plain().Title()+", CURVE" {
			t.Errorf("%s: title %q", v.ID(), v.Title())
		}
	}
	if len(curve) != 3 {
		t.Errorf("%d CURVE variants, want 3", len(curve))
	}
	if got := KeepSecurity(all, []string{Null}); len(got) != len(all)-3 || slices.ContainsFunc(got, Variant.IsCurve) {
		t.Errorf("KeepSecurity(null): %d variants", len(got))
	}
	if got := KeepSecurity(all, []string{Curve}); !slices.Equal(got, curve) {
		t.Errorf("KeepSecurity(curve) = %v, want %v", got, curve)
	}
}

func TestParseCase(t *testing.T) {
	if _, err := ParseCase("rtt"); err != nil {
		t.Error(err)
	}
	if _, err := ParseCase("latency"); err == nil {
		t.Error("no error for an unknown case")
	}
}

func TestParseSecurity(t *testing.T) {
	for in, want := range map[string]string{"null": Null, "curve": Curve} {
		if got, err := ParseSecurity(in); err != nil || got != want {
			t.Errorf("ParseSecurity(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseSecurity("tls"); err == nil {
		t.Error("no error for an unknown security")
	}
}
