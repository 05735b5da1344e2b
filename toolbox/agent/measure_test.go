package agent

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/toolbox/supervise"
)

// envMeasure turns on TestMeasureAgent; envKills sets its number of
// kills (default 60).
const (
	envMeasure = "ZMP_AGENT_MEASURE"
	envKills   = "ZMP_AGENT_KILLS"
)

// TestMeasureAgent measures the goals on loopback: how long a
// start on a named agent takes (p50 goal ≤ 300 ms), and how long after
// a SIGKILL its node is restarted, registered again and answering a
// call (p99 goal ≤ 500 ms). It runs when $ZMP_AGENT_MEASURE is set:
//
//	ZMP_AGENT_MEASURE=1 go test -count=1 -run TestMeasureAgent -v ./toolbox/agent/
//
// (without -race: the figures are of the real thing). The bounds it
// checks are generous; the figures are logged.
func TestMeasureAgent(t *testing.T) {
	if os.Getenv(envMeasure) == "" {
		t.Skipf("set $%s=1 to measure starts and restarts after kills", envMeasure)
	}
	kills := 60
	if n, err := strconv.Atoi(os.Getenv(envKills)); err == nil && n > 0 {
		kills = n
	}
	h := newHarness(t, WithMaxNodes(100),
		WithSupervisorOptions(supervise.WithIntensity(10*kills, time.Hour), supervise.WithBackoff(supervise.NoBackoff())))

	var starts []time.Duration
	for i := range 30 {
		t0 := time.Now()
		h.start(Spec{Name: fmt.Sprintf("s%d", i), Kind: "calc"})
		starts = append(starts, time.Since(t0))
	}
	for i := range 30 {
		if _, err := h.client.Stop(h.ctx, "a1", fmt.Sprintf("s%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("start on a named agent, %d starts: %s", len(starts), percentiles(starts))

	pid := h.start(Spec{Name: "victim", Kind: "calc"}).PID
	var back []time.Duration
	for range kills {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		newPID := waitAnswer(t, h, "victim", pid)
		back = append(back, time.Since(t0))
		pid = newPID
	}
	t.Logf("SIGKILL to answering again, %d kills: %s", len(back), percentiles(back))
	if st := h.ps("victim"); st.Restarts != int64(kills) {
		t.Errorf("restarts counted: %d, want %d", st.Restarts, kills)
	}
	if p := quantile(back, 0.99); p > 5*time.Second {
		t.Errorf("p99 of the restarts %v", p)
	}
	if p := quantile(starts, 0.5); p > 3*time.Second {
		t.Errorf("p50 of the starts %v", p)
	}
}

// waitAnswer calls name.pid until a process other than old answers.
func waitAnswer(t *testing.T, h *harness, name string, old int) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(h.ctx, 200*time.Millisecond)
		pid, err := core.Call[int](ctx, h.peer, name+".pid", nil, core.OnNode(name))
		cancel()
		if err == nil && pid != old {
			return pid
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("%s did not answer from a new process within 20 s", name)
	return 0
}

func quantile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func percentiles(ds []time.Duration) string {
	r := func(d time.Duration) time.Duration { return d.Round(100 * time.Microsecond) }
	return fmt.Sprintf("p50 %v  p90 %v  p99 %v  max %v", r(quantile(ds, 0.5)), r(quantile(ds, 0.9)), r(quantile(ds, 0.99)), r(quantile(ds, 1)))
}
