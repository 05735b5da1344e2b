package harness

import (
	"math"
	"testing"

	"github.com/gozmp/zmp/bench/spec"
)

// power returns values c·n^k at sizes: synthetic figures of known growth.
func power(c, k float64, sizes ...int) []float64 {
	out := make([]float64, len(sizes))
	for i, n := range sizes {
		out[i] = c * math.Pow(float64(n), k)
	}
	return out
}

func TestStepsRecoverExponent(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sizes []int
		k     float64
	}{
		{"constant", []int{1, 100, 1000}, 0},
		{"linear", []int{10, 100, 1000}, 1},
		{"quadratic", []int{1, 100, 10000}, 2},
		{"square root", []int{1, 16, 256}, 0.5},
		{"falling", []int{1, 16, 256}, -0.7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vals := power(3.5, tc.k, tc.sizes...)
			steps := Steps(spec.FirstCallMs, tc.sizes, vals)
			if len(steps) != len(tc.sizes)-1 {
				t.Fatalf("%d steps for %d sizes", len(steps), len(tc.sizes))
			}
			for i, s := range steps {
				if !s.OK || s.From != tc.sizes[i] || s.To != tc.sizes[i+1] {
					t.Fatalf("step %d: %+v", i, s)
				}
				if math.Abs(s.Exponent-tc.k) > 1e-9 {
					t.Errorf("step %d: exponent %v, want %v", i, s.Exponent, tc.k)
				}
				want := vals[i+1] / vals[i]
				if math.Abs(s.Factor-want) > 1e-9*want {
					t.Errorf("step %d: factor %v, want %v", i, s.Factor, want)
				}
			}
		})
	}
}

func TestStepsWithoutPositiveValues(t *testing.T) {
	steps := Steps(spec.FirstCallMs, []int{1, 100, 1000}, []float64{-12, 40, 400})
	if steps[0].OK || steps[0].Factor != 0 {
		t.Errorf("a negative value gave a step: %+v", steps[0])
	}
	if !steps[1].OK || math.Abs(steps[1].Exponent-1) > 1e-9 {
		t.Errorf("second step: %+v", steps[1])
	}
	if got := Read(spec.FirstCallMs, steps); got != "linear" {
		t.Errorf("read %q from the last measurable step, want linear", got)
	}
	if got := Read(spec.FirstCallMs, Steps(spec.FirstCallMs, []int{1, 2}, []float64{0, 5})); got != "not measurable" {
		t.Errorf("read %q with no measurable step", got)
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		metric string
		k      float64
		want   string
	}{
		{spec.FirstCallMs, 0.05, "constant"},
		{spec.FirstCallMs, -0.1, "constant"},
		{spec.FirstCallMs, 0.5, "sublinear"},
		{spec.FirstCallMs, 0.9, "linear"},
		{spec.AdvertiseMs, 1.96, "worse than linear (n^2.0)"},
		{spec.FirstCallMs, -0.6, "falling"},
		// Per unit: the total is one power higher.
		{spec.RSSPerConnKiB, 0.02, "total linear"},
		{spec.RSSPerTopicKiB, -0.95, "total constant"},
		{spec.RSSPerConnLoadKiB, 0.6, "total worse than linear (n^1.6)"},
		// Rates.
		{spec.CallsPerSec, 0.1, "rate holds"},
		{spec.MsgsPerSec, -0.4, "rate falls (n^-0.4)"},
		{spec.CallsPerSec, 0.8, "rate rises (n^0.8)"},
	} {
		if got := Classify(tc.metric, tc.k); got != tc.want {
			t.Errorf("Classify(%s, %v) = %q, want %q", tc.metric, tc.k, got, tc.want)
		}
	}
}

// TestGrowthsFromSummaries builds summaries of synthetic points, out of
// order and with a failed one, and checks what Growths makes of them.
func TestGrowthsFromSummaries(t *testing.T) {
	point := func(c spec.ScaleCase, n int, m map[string]float64) ScaleMeasurement {
		p := spec.ScalePoint{Case: c, Size: n}
		return ScaleMeasurement{ID: p.ID(), Point: p, Metrics: m}
	}
	var ms []ScaleMeasurement
	for rep := range 3 {
		jitter := 1 + 0.01*float64(rep-1) // medians must undo it
		for _, n := range []int{1000, 10, 100} {
			ms = append(ms, point(spec.ScaleRegistryDir, n, map[string]float64{
				spec.FirstCallMs: 2 * float64(n) * jitter, // linear
				spec.ListNodesMs: 40 * jitter,             // constant
			}))
		}
	}
	failed := point(spec.ScaleRegistryNode, 10, nil)
	failed.Error = "boom"
	ms = append(ms, failed)

	sums := SummariseScale(ms)
	if len(sums) != 4 {
		t.Fatalf("%d summaries, want 4: %+v", len(sums), sums)
	}
	for _, s := range sums {
		if s.Point.Case == spec.ScaleRegistryNode {
			if s.Runs != 0 || len(s.Errors) != 1 {
				t.Errorf("failed point: %+v", s)
			}
		} else if s.Runs != 3 || s.Median[spec.FirstCallMs] != 2*float64(s.Point.Size) {
			t.Errorf("%s: runs %d, median %v", s.ID, s.Runs, s.Median)
		}
	}
	gs := Growths(sums)
	if len(gs) != 2 {
		t.Fatalf("%d growths, want 2 (the failed case has no figures): %+v", len(gs), gs)
	}
	want := map[string]string{spec.FirstCallMs: "linear", spec.ListNodesMs: "constant"}
	for _, g := range gs {
		if g.Sizes[0] != 10 || g.Sizes[1] != 100 || g.Sizes[2] != 1000 {
			t.Errorf("%s: sizes %v not increasing", g.Metric, g.Sizes)
		}
		if g.Reading != want[g.Metric] {
			t.Errorf("%s: reading %q, want %q", g.Metric, g.Reading, want[g.Metric])
		}
	}
}

// TestReadWithFixedPart reads costs that have a fixed part, as a
// process start gives `zmptool list nodes`: the exponent of each step
// understates their growth, the marginal costs do not.
func TestReadWithFixedPart(t *testing.T) {
	for _, tc := range []struct {
		name   string
		metric string
		sizes  []int
		value  func(n float64) float64
		want   string
	}{
		{"linear after 60 ms", spec.ListNodesMs, []int{10, 100, 1000}, func(n float64) float64 { return 60 + 0.3*n }, "linear"},
		{"quadratic after a fixed part", spec.AdvertiseMs, []int{1, 100, 1000}, func(n float64) float64 { return 5 + 0.003*n*n }, "worse than linear (marginal cost ×10.9)"},
		{"constant with noise", spec.FirstMsgMs, []int{1, 100, 1000}, func(n float64) float64 { return 5 + math.Mod(n, 7)/10 }, "constant"},
		{"n log n reads linear", spec.FirstCallMs, []int{10, 100, 1000}, func(n float64) float64 { return n * math.Log(n) }, "linear"},
		{"square root", spec.FirstCallMs, []int{1, 100, 10000}, func(n float64) float64 { return math.Sqrt(n) }, "sublinear"},
		// Per connection: a first connection's one-off cost, then 25 KiB each.
		{"per unit, linear total", spec.RSSPerConnKiB, []int{1, 100, 1000}, func(n float64) float64 { return (500 + 25*n) / n }, "total linear"},
		{"per unit, constant total", spec.RSSPerTopicKiB, []int{1, 100, 10000}, func(n float64) float64 { return 600 / n }, "total constant"},
		{"two points: the exponent", spec.FirstCallMs, []int{10, 100}, func(n float64) float64 { return n }, "linear"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vals := make([]float64, len(tc.sizes))
			for i, n := range tc.sizes {
				vals[i] = tc.value(float64(n))
			}
			if got := Read(tc.metric, Steps(tc.metric, tc.sizes, vals)); got != tc.want {
				t.Errorf("Read = %q, want %q (values %v)", got, tc.want, vals)
			}
		})
	}
}

func TestFilesNeeded(t *testing.T) {
	for _, tc := range []struct {
		p    spec.ScalePoint
		per  uint64
		want uint64
	}{
		{spec.ScalePoint{Case: spec.ScaleCallers, Size: 1000}, fdsPerPeer, 4*1000 + fdsSpare},
		{spec.ScalePoint{Case: spec.ScaleSubscribers, Size: 256}, 1, 256 + fdsSpare},
		{spec.ScalePoint{Case: spec.ScaleTopics, Size: 10000}, fdsPerPeer, fdsSpare},
		{spec.ScalePoint{Case: spec.ScaleRegistryNode, Size: 1000}, fdsPerPeer, fdsSpare},
	} {
		if got := filesNeeded(tc.p, tc.per); got != tc.want {
			t.Errorf("filesNeeded(%s, %d) = %d, want %d", tc.p.ID(), tc.per, got, tc.want)
		}
	}
}
