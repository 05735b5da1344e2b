package spec

import "testing"

func TestMatrix(t *testing.T) {
	all := Matrix(Cases, []string{TCP, IPC})
	if len(all) != 15 {
		t.Fatalf("%d variants, want 15", len(all))
	}
	ids := map[string]bool{}
	for _, v := range all {
		if ids[v.ID()] {
			t.Errorf("duplicate id %s", v.ID())
		}
		ids[v.ID()] = true
	}
	tcpRTT := Matrix([]Case{RTT}, []string{TCP})
	if len(tcpRTT) != 1 || tcpRTT[0].ID() != "rtt/tcp" {
		t.Errorf("rtt on tcp: %+v", tcpRTT)
	}
	for _, id := range []string{"inflight-256/tcp", "pubsub-4 KiB/ipc", "fanout-16/tcp", "stalled/tcp"} {
		if !ids[id] {
			t.Errorf("no %s", id)
		}
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
