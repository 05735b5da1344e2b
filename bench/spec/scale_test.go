package spec

import (
	"slices"
	"testing"
)

func TestParseScale(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []ScaleCase
		bad  bool
	}{
		{in: "", want: nil},
		{in: "none", want: nil},
		{in: "all", want: ScaleCases},
		{in: "registry", want: []ScaleCase{ScaleRegistryDir, ScaleRegistryNode}},
		{in: "topics, callers,callers", want: []ScaleCase{ScaleCallers, ScaleTopics}},
		{in: "registry-node,all", want: ScaleCases},
		{in: "callers,bogus", bad: true},
	} {
		got, err := ParseScale(tc.in)
		if (err != nil) != tc.bad {
			t.Errorf("ParseScale(%q): error %v", tc.in, err)
			continue
		}
		if !tc.bad && !sameCases(got, tc.want) {
			t.Errorf("ParseScale(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func sameCases(a, b []ScaleCase) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestScaleMatrix checks that every case has increasing sizes, fewer
// or smaller ones under --quick, metrics, and unique point IDs.
func TestScaleMatrix(t *testing.T) {
	for _, c := range ScaleCases {
		full, quick := ScaleSizes(c, false), ScaleSizes(c, true)
		if len(full) < 2 || !slices.IsSorted(full) || !slices.IsSorted(quick) || len(quick) < 2 {
			t.Errorf("%s: sizes %v, quick %v", c, full, quick)
		}
		if slices.Max(quick) > slices.Max(full) {
			t.Errorf("%s: quick goes further (%v) than full (%v)", c, quick, full)
		}
		if len(ScaleMetrics(c)) == 0 {
			t.Errorf("%s: no metrics", c)
		}
		for _, m := range ScaleMetrics(c) {
			if ScaleLabel(c, m) == m {
				t.Errorf("%s: metric %s has no label", c, m)
			}
		}
	}
	ids := map[string]bool{}
	pts := ScaleMatrix(ScaleCases, false)
	for _, p := range pts {
		if ids[p.ID()] {
			t.Errorf("duplicate id %s", p.ID())
		}
		ids[p.ID()] = true
	}
	if got := ScaleMatrix([]ScaleCase{ScaleTopics}, true); len(got) != len(ScaleSizes(ScaleTopics, true)) || got[0].Case != ScaleTopics {
		t.Errorf("topics only: %+v", got)
	}
}
