package harness

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/gozmp/zmp/bench/spec"
)

// Growth is how one metric of a scale case changes with size: the
// medians at each size and, between neighbouring sizes, the factor and
// the exponent k of value ∝ size^k.
type Growth struct {
	Case    spec.ScaleCase `json:"case"`
	Metric  string         `json:"metric"`
	Sizes   []int          `json:"sizes"`
	Values  []float64      `json:"values"`
	Steps   []Step         `json:"steps"`
	Reading string         `json:"reading"` // the class of the last measurable step
}

// Step is the change of a metric from one size to the next. OK is
// false when either value is not positive (a difference of RSS below
// what can be measured): no factor then.
type Step struct {
	From     int     `json:"from"`
	To       int     `json:"to"`
	Factor   float64 `json:"factor,omitempty"`   // value at To ÷ value at From
	Exponent float64 `json:"exponent,omitempty"` // log(Factor) / log(To/From)
	OK       bool    `json:"ok"`
}

// Steps computes the steps between neighbouring points. sizes must be
// increasing, values as long.
func Steps(sizes []int, values []float64) []Step {
	var out []Step
	for i := 1; i < len(sizes) && i < len(values); i++ {
		s := Step{From: sizes[i-1], To: sizes[i]}
		a, b := values[i-1], values[i]
		if a > 0 && b > 0 && sizes[i] > sizes[i-1] && sizes[i-1] > 0 {
			s.OK = true
			s.Factor = b / a
			s.Exponent = math.Log(s.Factor) / math.Log(float64(sizes[i])/float64(sizes[i-1]))
		}
		out = append(out, s)
	}
	return out
}

// Thresholds of the classes of an exponent, wide because one point's
// figures vary by 10-40 % on a shared machine.
const (
	flatBelow   = 0.25 // |k| below: constant
	linearBelow = 1.25 // and from 0.75: linear
)

// Classify names how a metric grows from the exponent k of its last
// measurable step. A rate (calls/s) holds, rises or falls. A cost is
// constant, sublinear, linear or worse; a cost per unit (RSS per
// connection) is read as the total it adds up to, so a constant cost
// per connection is a linear total.
func Classify(metric string, k float64) string {
	if !spec.ScaleLowerIsBetter(metric) {
		switch {
		case k <= -flatBelow:
			return "rate falls (n^" + exp(k) + ")"
		case k >= flatBelow:
			return "rate rises (n^" + exp(k) + ")"
		}
		return "rate holds"
	}
	total := k
	if spec.PerUnit(metric) {
		total = k + 1
	}
	var class string
	switch {
	case total < -flatBelow:
		class = "falling"
	case total < flatBelow:
		class = "constant"
	case total < 1-flatBelow:
		class = "sublinear"
	case total < linearBelow:
		class = "linear"
	default:
		class = "worse than linear (n^" + exp(total) + ")"
	}
	if spec.PerUnit(metric) {
		return "total " + class
	}
	return class
}

func exp(k float64) string { return strconv.FormatFloat(k, 'f', 1, 64) }

// Read classifies the last measurable step of steps, or says there is
// none.
func Read(metric string, steps []Step) string {
	for i := len(steps) - 1; i >= 0; i-- {
		if steps[i].OK {
			return Classify(metric, steps[i].Exponent)
		}
	}
	return "not measurable"
}

// Growths computes the growth of every metric of every case present in
// sums, sizes in increasing order. A size without a median for the
// metric is left out.
func Growths(sums []ScaleSummary) []Growth {
	var out []Growth
	for _, c := range spec.ScaleCases {
		for _, metric := range spec.ScaleMetrics(c) {
			g := Growth{Case: c, Metric: metric}
			for _, s := range sortedPoints(sums, c) {
				if v, ok := s.Median[metric]; ok {
					g.Sizes, g.Values = append(g.Sizes, s.Point.Size), append(g.Values, v)
				}
			}
			if len(g.Sizes) == 0 {
				continue
			}
			g.Steps = Steps(g.Sizes, g.Values)
			g.Reading = Read(metric, g.Steps)
			out = append(out, g)
		}
	}
	return out
}

// sortedPoints returns the summaries of case c by increasing size.
func sortedPoints(sums []ScaleSummary, c spec.ScaleCase) []ScaleSummary {
	var out []ScaleSummary
	for _, s := range sums {
		if s.Point.Case == c {
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, func(a, b ScaleSummary) int { return cmp.Compare(a.Point.Size, b.Point.Size) })
	return out
}

// formatG formats a figure for the log, 4 significant digits.
func formatG(v float64) string { return fmt.Sprintf("%.4g", v) }
