package harness

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/gozmp/zmp/bench/spec"
)

// ScaleConfig is what the scale cases run: zmp alone, at growing sizes.
type ScaleConfig struct {
	Cases []spec.ScaleCase // none: no scale cases
	Quick bool             // the reduced sizes of spec.ScaleSizes
	Reps  int              // repetitions of each point (medians are reported); at least 1
	// Samples is how many fresh callers, fresh subscribers and zmptool
	// runs a point times, for the medians of the time-to-first figures.
	Samples int
	// Zmptool is the zmptool binary run for `list nodes`; "" leaves
	// that figure out.
	Zmptool string
}

// ScaleRun is the scale part of a run: every measurement, the medians
// of each point, and how each metric grows from one size to the next.
type ScaleRun struct {
	Quick        bool               `json:"quick"`
	Reps         int                `json:"reps"`
	Samples      int                `json:"samples"`
	Points       []spec.ScalePoint  `json:"points"`
	Seconds      float64            `json:"seconds"`
	Note         string             `json:"note,omitempty"` // e.g. why a figure is missing
	Measurements []ScaleMeasurement `json:"measurements"`
	Summaries    []ScaleSummary     `json:"summaries"`
	Growth       []Growth           `json:"growth"`
}

// ScaleMeasurement is one run of one point.
type ScaleMeasurement struct {
	ID      string             `json:"id"`
	Point   spec.ScalePoint    `json:"point"`
	Rep     int                `json:"rep"`
	Metrics map[string]float64 `json:"metrics,omitempty"`
	Server  map[string]float64 `json:"server_stats,omitempty"`
	Client  map[string]float64 `json:"client_stats,omitempty"`
	Error   string             `json:"error,omitempty"`
	Seconds float64            `json:"seconds"`
}

// ScaleSummary is the median over the repetitions of one point.
type ScaleSummary struct {
	ID     string             `json:"id"`
	Point  spec.ScalePoint    `json:"point"`
	Runs   int                `json:"runs"` // measurements without error
	Median map[string]float64 `json:"median,omitempty"`
	Stats  map[string]float64 `json:"stats,omitempty"` // medians of both sides' counters
	Errors []string           `json:"errors,omitempty"`
}

// runScale runs every point once per repetition, repetitions one after
// the other, and summarises.
func runScale(ctx context.Context, cfg *Config) (*ScaleRun, error) {
	sc := cfg.Scale
	sr := &ScaleRun{Quick: sc.Quick, Reps: max(sc.Reps, 1), Samples: max(sc.Samples, 1), Points: spec.ScaleMatrix(sc.Cases, sc.Quick)}
	if sc.Zmptool == "" {
		sr.Note = "zmptool was not found (make bench-build builds it into bench/bin): no `list nodes` figures"
	}
	start := time.Now()
	defer func() {
		sr.Seconds = time.Since(start).Seconds()
		sr.Summaries = SummariseScale(sr.Measurements)
		sr.Growth = Growths(sr.Summaries)
	}()
	for rep := 1; rep <= sr.Reps; rep++ {
		for i, pt := range sr.Points {
			if ctx.Err() != nil {
				return sr, ctx.Err() // what was measured is summarised all the same
			}
			m := measureScale(ctx, cfg, pt, rep, sr.Samples)
			cfg.stderr.printf("[scale rep %d/%d %2d/%d] %s\n", rep, sr.Reps, i+1, len(sr.Points), scaleProgress(m))
			sr.Measurements = append(sr.Measurements, m)
		}
	}
	return sr, nil
}

// scaleProgress is one line about a measurement for the log.
func scaleProgress(m ScaleMeasurement) string {
	s := m.ID
	if m.Error != "" {
		return s + " FAILED: " + m.Error
	}
	for _, k := range spec.ScaleMetrics(m.Point.Case) {
		if v, ok := m.Metrics[k]; ok {
			s += " " + k + "=" + formatG(v)
		}
	}
	return s + " (" + formatG(m.Seconds) + "s)"
}

// SummariseScale groups measurements by point, in first-seen order,
// and takes medians of the ones without error.
func SummariseScale(ms []ScaleMeasurement) []ScaleSummary {
	var out []ScaleSummary
	byID := map[string][]ScaleMeasurement{}
	for _, m := range ms {
		i := slices.IndexFunc(out, func(s ScaleSummary) bool { return s.ID == m.ID })
		if i < 0 {
			i = len(out)
			out = append(out, ScaleSummary{ID: m.ID, Point: m.Point})
		}
		if m.Error != "" {
			out[i].Errors = append(out[i].Errors, m.Error)
			continue
		}
		byID[m.ID] = append(byID[m.ID], m)
	}
	for i := range out {
		good := byID[out[i].ID]
		out[i].Runs = len(good)
		out[i].Median = medians(good, func(m ScaleMeasurement) map[string]float64 { return m.Metrics })
		out[i].Stats = medians(good, func(m ScaleMeasurement) map[string]float64 {
			st := maps.Clone(m.Client)
			if st == nil {
				st = map[string]float64{}
			}
			maps.Copy(st, m.Server)
			return st
		})
	}
	return out
}

// medians returns, for every key of of(m), the median of its values
// over ms; nil when ms is empty.
func medians(ms []ScaleMeasurement, of func(ScaleMeasurement) map[string]float64) map[string]float64 {
	if len(ms) == 0 {
		return nil
	}
	vals := map[string][]float64{}
	for _, m := range ms {
		for k, v := range of(m) {
			vals[k] = append(vals[k], v)
		}
	}
	out := make(map[string]float64, len(vals))
	for k, vs := range vals {
		out[k] = median(vs)
	}
	return out
}
