package feedback

import (
	"fmt"
	"io"
)

// SimReport is the outcome of one of the package's ready-made
// simulations (SimulateXxx functions, which `zmptool feedback sim`
// runs): the trace, how to draw it, and the figures that sum the run
// up. The same configuration and seed give the same report, byte for
// byte once written.
type SimReport struct {
	// Name is the scenario, as `zmptool feedback sim --loop` names it.
	Name string
	// Seed is the seed the run used.
	Seed uint64
	// Trace has one row per control window.
	Trace *Trace
	// Plot lays out the trace's SVG.
	Plot PlotOptions
	// Metrics sum the run up, in the order they are best read.
	Metrics []SimMetric
}

// SimMetric is one figure of a SimReport.
type SimMetric struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit,omitempty"`
}

// Metric returns the value of the metric named name.
func (r *SimReport) Metric(name string) (float64, bool) {
	for _, m := range r.Metrics {
		if m.Name == name {
			return m.Value, true
		}
	}
	return 0, false
}

// AddMetric appends a metric to the report.
func (r *SimReport) AddMetric(name string, value float64, unit string) {
	r.Metrics = append(r.Metrics, SimMetric{Name: name, Value: value, Unit: unit})
}

// WriteSVG draws the report's trace as laid out by its Plot.
func (r *SimReport) WriteSVG(w io.Writer) error {
	if r.Trace == nil {
		return fmt.Errorf("%w: report %q has no trace", ErrSimConfig, r.Name)
	}
	return r.Trace.WriteSVG(w, r.Plot)
}

// WriteCSV writes the report's trace as CSV.
func (r *SimReport) WriteCSV(w io.Writer) error {
	if r.Trace == nil {
		return fmt.Errorf("%w: report %q has no trace", ErrSimConfig, r.Name)
	}
	return r.Trace.WriteCSV(w)
}
