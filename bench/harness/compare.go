package harness

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/gozmp/zmp/bench/spec"
	"github.com/gozmp/zmp/bench/systems"
)

// Config is what Compare runs.
type Config struct {
	Exe string // the zmpbench binary that runs the workers
	// Exes overrides Exe for some systems: libzmq's workers run in a
	// binary built with -tags libzmq, so that cgo does not weigh on the
	// memory of every other system.
	Exes map[string]string
	// Versions are added to the machine's description (libzmq's, read
	// from its binary).
	Versions    map[string]string
	Systems     []string       // in report order; the first is the reference (zmp)
	Variants    []spec.Variant // in run order
	Reps        int
	Duration    time.Duration // measured window
	Warmup      time.Duration // before the window
	RSSLimitMiB int64         // a worker above it is killed; 0: no limit
	// PinRTT is the CPU list both processes of the rtt case bind to, ""
	// for none. One CPU takes the cost of waking another one (tens of
	// µs in a VM, and random) out of the round trip.
	PinRTT string
	Stderr io.Writer // workers' stderr and progress lines
	// Scale are the scale cases, run after the others (scale.go).
	Scale ScaleConfig

	stderr *lockedWriter
}

// Run is a whole comparison: what ran, on what, and its results.
type Run struct {
	Machine      Machine        `json:"machine"`
	Systems      []string       `json:"systems"`
	Variants     []spec.Variant `json:"variants"`
	Reps         int            `json:"reps"`
	Duration     string         `json:"duration"`
	Warmup       string         `json:"warmup"`
	PinRTT       string         `json:"pin_rtt,omitempty"` // CPUs of the rtt case
	Started      time.Time      `json:"started"`
	Seconds      float64        `json:"seconds"`
	Skipped      []Skip         `json:"skipped,omitempty"`
	Measurements []Measurement  `json:"measurements"`
	Summaries    []Summary      `json:"summaries"`
	Scale        *ScaleRun      `json:"scale,omitempty"`
}

// Skip is a (system, variant) that was not run, and why.
type Skip struct {
	System string `json:"system"`
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// Compare runs every (variant, system) once per repetition,
// repetitions one after the other, and summarises by medians.
func Compare(ctx context.Context, cfg Config) (*Run, error) {
	if cfg.Reps < 1 || cfg.Duration <= 0 || len(cfg.Systems) == 0 || len(cfg.Variants)+len(cfg.Scale.Cases) == 0 {
		return nil, fmt.Errorf("nothing to run: %d reps of %v, %d systems, %d variants", cfg.Reps, cfg.Duration, len(cfg.Systems), len(cfg.Variants))
	}
	cfg.stderr = &lockedWriter{w: cfg.Stderr}
	run := &Run{Machine: Describe(), Systems: cfg.Systems, Variants: cfg.Variants, Reps: cfg.Reps,
		Duration: cfg.Duration.String(), Warmup: cfg.Warmup.String(), PinRTT: cfg.PinRTT, Started: time.Now()}
	maps.Copy(run.Machine.Versions, cfg.Versions)
	todo, err := plan(cfg, run)
	if err != nil {
		return nil, err
	}
	for rep := 1; rep <= cfg.Reps; rep++ {
		for i, t := range todo {
			if ctx.Err() != nil {
				return run, ctx.Err()
			}
			m := measure(ctx, &cfg, t.system, t.variant, rep)
			cfg.stderr.printf("[rep %d/%d %3d/%d] %s\n", rep, cfg.Reps, i+1, len(todo), progress(m))
			run.Measurements = append(run.Measurements, m)
		}
	}
	run.Summaries = Summarise(run.Measurements)
	if len(cfg.Scale.Cases) > 0 {
		run.Scale, err = runScale(ctx, &cfg)
	}
	run.Seconds = time.Since(run.Started).Seconds()
	return run, err
}

type task struct {
	system  string
	variant spec.Variant
}

// plan lists the (variant, system) pairs to run and records the skips.
func plan(cfg Config, run *Run) ([]task, error) {
	var todo []task
	for _, v := range cfg.Variants {
		for _, name := range cfg.Systems {
			sys, err := systems.Lookup(name)
			if err != nil {
				return nil, err
			}
			why := sys.Unsupported(v)
			if cfg.Exes[name] != "" {
				why = sys.Capable(v)
			}
			if why != "" {
				run.Skipped = append(run.Skipped, Skip{System: name, ID: v.ID(), Reason: why})
				continue
			}
			todo = append(todo, task{system: name, variant: v})
		}
	}
	return todo, nil
}

// exe is the binary that runs the workers of system.
func (c *Config) exe(system string) string {
	if e := c.Exes[system]; e != "" {
		return e
	}
	return c.Exe
}

// progress is one line about a measurement for the log.
func progress(m Measurement) string {
	s := fmt.Sprintf("%-18s %-12s", m.ID, m.System)
	if m.Error != "" {
		return s + " FAILED: " + m.Error
	}
	metric := spec.Headline(m.Variant.Case)
	return fmt.Sprintf("%s %s=%.4g  rss server %.0f MiB client %.0f MiB  (%.1fs)", s, metric, m.Metrics[metric],
		m.Metrics[spec.ServerRSSMiB], m.Metrics[spec.ClientRSSMiB], m.Seconds)
}

// Summary is the median over the repetitions of one (variant, system).
type Summary struct {
	System  string             `json:"system"`
	ID      string             `json:"id"`
	Variant spec.Variant       `json:"variant"`
	Runs    int                `json:"runs"` // measurements without error
	Median  map[string]float64 `json:"median,omitempty"`
	Min     map[string]float64 `json:"min,omitempty"`
	Max     map[string]float64 `json:"max,omitempty"`
	Stats   map[string]float64 `json:"stats,omitempty"` // medians of both sides' counters
	Errors  []string           `json:"errors,omitempty"`
}

// Summarise groups measurements by (variant, system), in first-seen
// order, and takes medians of the ones without error.
func Summarise(ms []Measurement) []Summary {
	var out []Summary
	index := map[[2]string]int{}
	samples := map[[2]string][]Measurement{}
	for _, m := range ms {
		k := [2]string{m.ID, m.System}
		if _, ok := index[k]; !ok {
			index[k] = len(out)
			out = append(out, Summary{System: m.System, ID: m.ID, Variant: m.Variant})
		}
		s := &out[index[k]]
		if m.Error != "" {
			s.Errors = append(s.Errors, m.Error)
			continue
		}
		samples[k] = append(samples[k], m)
	}
	for k, i := range index {
		out[i].fill(samples[k])
	}
	return out
}

func (s *Summary) fill(ms []Measurement) {
	s.Runs = len(ms)
	if len(ms) == 0 {
		return
	}
	s.Median, s.Min, s.Max = map[string]float64{}, map[string]float64{}, map[string]float64{}
	for _, key := range keys(ms, func(m Measurement) map[string]float64 { return m.Metrics }) {
		vals := values(ms, func(m Measurement) map[string]float64 { return m.Metrics }, key)
		s.Median[key], s.Min[key], s.Max[key] = median(vals), slices.Min(vals), slices.Max(vals)
	}
	s.Stats = map[string]float64{}
	both := func(m Measurement) map[string]float64 {
		st := maps.Clone(m.Client)
		if st == nil {
			st = map[string]float64{}
		}
		maps.Copy(st, m.Server)
		return st
	}
	for _, key := range keys(ms, both) {
		s.Stats[key] = median(values(ms, both, key))
	}
}

func keys(ms []Measurement, of func(Measurement) map[string]float64) []string {
	var ks []string
	for _, m := range ms {
		for k := range of(m) {
			if !slices.Contains(ks, k) {
				ks = append(ks, k)
			}
		}
	}
	slices.Sort(ks)
	return ks
}

func values(ms []Measurement, of func(Measurement) map[string]float64, key string) []float64 {
	var vs []float64
	for _, m := range ms {
		if v, ok := of(m)[key]; ok {
			vs = append(vs, v)
		}
	}
	return vs
}

// median of vs; the mean of the middle two for an even count.
func median(vs []float64) float64 {
	s := slices.Sorted(slices.Values(vs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
