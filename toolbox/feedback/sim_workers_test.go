package feedback

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"
)

// workersGoal reads step k's (from 1) metric name.
func workersMetric(t *testing.T, rep *SimReport, k int, name string) float64 {
	t.Helper()
	full := fmt.Sprintf("step%d_%s", k, name)
	v, ok := rep.Metric(full)
	if !ok {
		t.Fatalf("no metric %s", full)
	}
	return v
}

func logWorkersReport(t *testing.T, rep *SimReport) {
	t.Helper()
	for _, m := range rep.Metrics {
		t.Logf("seed %d %-28s %10.3f %s", rep.Seed, m.Name, m.Value, m.Unit)
	}
}

// TestSimWorkersDefaultMeetsGoals runs issue 13's scenario (the zero
// WorkersSim) and checks its measured goals in every load step: the
// settled p99 wait within 10 % of the target, the settled workers
// within 10 % of the fewest that meet the target, at most one reversal;
// and that the same load with the initial workers fixed misses the
// target by far once the load exceeds their capacity.
func TestSimWorkersDefaultMeetsGoals(t *testing.T) {
	rep, err := SimulateWorkers(WorkersSim{})
	if err != nil {
		t.Fatal(err)
	}
	logWorkersReport(t, rep)
	if rep.Name != "workers" || rep.Trace.Len() != 3*400 {
		t.Fatalf("report %q with %d windows, want workers with 1200", rep.Name, rep.Trace.Len())
	}
	for k := 1; k <= 3; k++ {
		if v := workersMetric(t, rep, k, "wait_overshoot_pct"); v > 10 {
			t.Errorf("step %d: p99 wait %.1f %% over the target", k, v)
		}
		if v, one := workersMetric(t, rep, k, "peak_worker_overshoot_pct"), 100/workersMetric(t, rep, k, "needed_workers"); v > max(10, one) {
			t.Errorf("step %d: peak %.1f %% more workers than needed, want ≤ 10 %% or one worker", k, v)
		}
		if v, one := workersMetric(t, rep, k, "worker_overshoot_pct"), 100/workersMetric(t, rep, k, "needed_workers"); v > max(10, one) {
			t.Errorf("step %d: %.1f %% more workers than needed, want ≤ 10 %% or one worker", k, v)
		}
		if v := workersMetric(t, rep, k, "reversals"); v > 1 {
			t.Errorf("step %d: %v reversals", k, v)
		}
	}
	// 1.5× the fixed workers' capacity: their queue grows without bound.
	if fixed, loop := workersMetric(t, rep, 2, "fixed_wait_p99_ms"), workersMetric(t, rep, 2, "wait_p99_ms"); fixed < 100*loop {
		t.Errorf("overloaded step: fixed workers' p99 %.1f ms, loop's %.1f ms: want the fixed one far worse", fixed, loop)
	}
	loopWS, _ := rep.Metric("worker_seconds")
	peakWS, _ := rep.Metric("peak_fixed_worker_seconds")
	if loopWS >= peakWS {
		t.Errorf("loop used %.0f worker-seconds, the peak held all along %.0f", loopWS, peakWS)
	}
}

// TestSimWorkersSeeds checks the goals over seeds 0 to 5, 18 load
// steps. In every step: at most one reversal, the settled p99 wait
// within 10 % of the target, the settled workers within 10 % (or one
// worker) of the fewest that meet it. The transient after a step can
// push one step's p99 over it, so over the whole of each step,
// transient included, the p99 wait must be within 10 % of the target
// in at least 90 % of the steps, and the peak worker count within 10 %
// (or one worker) of the need in at least 75 % of them. (Seeds 0 to 19
// gave 59 of 60 and 58 of 60: see docs/feedback.md.)
func TestSimWorkersSeeds(t *testing.T) {
	var steps, wholeOK, peakOK int
	for seed := range uint64(6) {
		rep, err := SimulateWorkers(WorkersSim{Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		for k := 1; k <= 3; k++ {
			one := 100 / workersMetric(t, rep, k, "needed_workers")
			if v := workersMetric(t, rep, k, "reversals"); v > 1 {
				t.Errorf("seed %d step %d: %v reversals", seed, k, v)
			}
			if v := workersMetric(t, rep, k, "wait_overshoot_pct"); v > 10 {
				t.Errorf("seed %d step %d: settled p99 wait %.1f %% over the target", seed, k, v)
			}
			if v := workersMetric(t, rep, k, "worker_overshoot_pct"); v > max(10, one) {
				t.Errorf("seed %d step %d: %.1f %% more workers than needed", seed, k, v)
			}
			steps++
			if workersMetric(t, rep, k, "wait_overshoot_whole_step_pct") <= 10 {
				wholeOK++
			}
			if workersMetric(t, rep, k, "peak_worker_overshoot_pct") <= max(10, one) {
				peakOK++
			}
		}
	}
	t.Logf("%d steps: whole-step p99 within 1.1× target in %d, peak workers within 10 %% or one worker in %d", steps, wholeOK, peakOK)
	if 10*wholeOK < 9*steps {
		t.Errorf("whole-step p99 within 1.1× target in %d of %d steps, want ≥ 90 %%", wholeOK, steps)
	}
	if 4*peakOK < 3*steps {
		t.Errorf("peak workers within 10 %% or one worker of the need in %d of %d steps, want ≥ 75 %%", peakOK, steps)
	}
}

// TestSimWorkersLognormal gives the loop a service-time distribution
// its M/M/c model does not fit (lognormal, sigma 1: longer waits than
// the model predicts): the feedback term adds workers, and the p99 wait
// stays within 1.6× the target (the goal's 1.1× is not met here: see
// the report) with at most two reversals a step, while the fixed
// workers' p99 explodes.
func TestSimWorkersLognormal(t *testing.T) {
	rep, err := SimulateWorkers(WorkersSim{Seed: 1, ServiceSigma: 1})
	if err != nil {
		t.Fatal(err)
	}
	logWorkersReport(t, rep)
	for k := 1; k <= 3; k++ {
		if v := workersMetric(t, rep, k, "wait_p99_ms"); v > 1.6*20 {
			t.Errorf("step %d: p99 wait %.1f ms", k, v)
		}
		if v := workersMetric(t, rep, k, "reversals"); v > 2 {
			t.Errorf("step %d: %v reversals", k, v)
		}
	}
	if v := workersMetric(t, rep, 2, "fixed_wait_p99_ms"); v < 1000 {
		t.Errorf("fixed workers overloaded: p99 %.1f ms", v)
	}
}

func TestSimWorkersDeterministic(t *testing.T) {
	cfg := WorkersSim{Seed: 7, StepLength: 12 * time.Second, Settle: 6 * time.Second}
	render := func(cfg WorkersSim) (svg, csv []byte) {
		rep, err := SimulateWorkers(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var s, c bytes.Buffer
		if err := rep.WriteSVG(&s); err != nil {
			t.Fatal(err)
		}
		if err := rep.WriteCSV(&c); err != nil {
			t.Fatal(err)
		}
		return s.Bytes(), c.Bytes()
	}
	svg1, csv1 := render(cfg)
	svg2, csv2 := render(cfg)
	if !bytes.Equal(svg1, svg2) || !bytes.Equal(csv1, csv2) {
		t.Fatal("same seed, different output")
	}
	cfg.Seed++
	if _, csv3 := render(cfg); bytes.Equal(csv1, csv3) {
		t.Fatal("another seed, same trace")
	}
	if !bytes.Contains(svg1, []byte("fixed_p99_ms")) || !bytes.HasPrefix(csv1, []byte("time_s,setpoint,measurement,actuation,needed,fixed_p99_ms,load")) {
		t.Fatalf("output lacks the series: %.120s", csv1)
	}
}

func TestSimWorkersConfig(t *testing.T) {
	for _, cfg := range []WorkersSim{
		{Workers: -1},
		{ServiceMean: -time.Millisecond},
		{StepLength: 10 * time.Second, Settle: 10 * time.Second},
		{StepLength: 10 * time.Second, Settle: time.Second, Window: 3 * time.Second},
		{Steps: []float64{}},
		{Steps: []float64{1, -0.5}},
		{MaxWorkers: -2},
	} {
		if _, err := SimulateWorkers(cfg); !errors.Is(err, ErrSimConfig) {
			t.Errorf("%+v: error %v, want ErrSimConfig", cfg, err)
		}
	}
	if _, err := NewSimPool(nil, false); !errors.Is(err, ErrSimConfig) {
		t.Errorf("nil pool: %v", err)
	}
}

func TestSimWorkersPeakOvershoot(t *testing.T) {
	for _, tc := range []struct {
		start   int
		workers []int
		needed  int
		want    float64
	}{
		{10, []int{12, 18, 21, 18, 18}, 18, 3.0 / 18}, // up, past 18 to 21
		{10, []int{12, 15, 17}, 18, 0},                // up, never reached
		{18, []int{12, 10, 9, 10}, 10, 1.0 / 10},      // down, past 10 to 9
		{18, []int{21, 12, 10}, 10, 0},                // above on the way down is not past
		{7, []int{7, 8, 7}, 7, 1.0 / 7},               // at it from the start
	} {
		if got := peakOvershoot(tc.start, tc.workers, tc.needed); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("peakOvershoot(%d, %v, %d) = %v, want %v", tc.start, tc.workers, tc.needed, got, tc.want)
		}
	}
}
