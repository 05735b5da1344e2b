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
	// Marginal is what each unit added over the step costs: the
	// difference of the totals ÷ the difference of the sizes, a total
	// being the value itself, or value × size for a cost per unit.
	// A linear cost has the same Marginal at every step, whatever its
	// fixed part (a process start, a first connection).
	Marginal float64 `json:"marginal"`
	// Base is the total at From, which Marginal adds to.
	Base float64 `json:"base"`
}

// Steps computes the steps of metric between neighbouring points.
// sizes must be increasing, values as long.
func Steps(metric string, sizes []int, values []float64) []Step {
	var out []Step
	for i := 1; i < len(sizes) && i < len(values); i++ {
		s := Step{From: sizes[i-1], To: sizes[i]}
		a, b := values[i-1], values[i]
		if a > 0 && b > 0 && sizes[i] > sizes[i-1] && sizes[i-1] > 0 {
			s.OK = true
			s.Factor = b / a
			s.Exponent = math.Log(s.Factor) / math.Log(float64(sizes[i])/float64(sizes[i-1]))
		}
		ta, tb := a, b
		if spec.PerUnit(metric) {
			ta, tb = a*float64(sizes[i-1]), b*float64(sizes[i])
		}
		s.Base = ta
		if sizes[i] > sizes[i-1] {
			s.Marginal = (tb - ta) / float64(sizes[i]-sizes[i-1])
		}
		out = append(out, s)
	}
	return out
}

// Thresholds of the classes, wide because one point's figures vary by
// 10-40 % on a shared machine.
const (
	flatBelow   = 0.25 // |k| below: constant; a total rising less than this fraction over a step: constant
	linearBelow = 1.25 // and from 0.75: linear
	// marginalBand: the marginal cost of the last step within this
	// factor of the step before's is linear; above, worse; below, sublinear.
	marginalBand = 2.0
)

// Classify names how a metric grows from the exponent k of one step.
// A rate (calls/s) holds, rises or falls. A cost is constant,
// sublinear, linear or worse; a cost per unit (RSS per connection) is
// read as the total it adds up to, so a constant cost per connection
// is a linear total.
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
	return perUnit(metric, class)
}

func perUnit(metric, class string) string {
	if spec.PerUnit(metric) {
		return "total " + class
	}
	return class
}

func exp(k float64) string { return strconv.FormatFloat(k, 'f', 1, 64) }

// Read says how metric grows. A rate is read from the exponent of its
// last measurable step. A cost is read from its marginal costs: the
// last step's against the step before's, so that a fixed part (a
// process start) does not pass for slow growth. With one step only,
// or a step before that added nothing, the exponent decides.
func Read(metric string, steps []Step) string {
	last := len(steps) - 1
	if spec.ScaleLowerIsBetter(metric) && last >= 1 && steps[last-1].Marginal > 0 {
		l := steps[last]
		if l.Marginal <= 0 || l.Marginal*float64(l.To-l.From) < flatBelow*l.Base {
			return perUnit(metric, "constant")
		}
		switch r := l.Marginal / steps[last-1].Marginal; {
		case r > marginalBand:
			return perUnit(metric, "worse than linear (marginal cost ×"+strconv.FormatFloat(r, 'f', 1, 64)+")")
		case r < 1/marginalBand:
			return perUnit(metric, "sublinear")
		}
		return perUnit(metric, "linear")
	}
	for i := last; i >= 0; i-- {
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
			g.Steps = Steps(metric, g.Sizes, g.Values)
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
