package hitratio

import (
	"context"
	"fmt"
	"time"
)

// GoalPoints is issue 11's goal: the best golang-lru policy within this
// many percentage points of the best W-TinyLFU.
const GoalPoints = 2.0

// Config is what Compare runs: every contender on every trace at every
// capacity.
type Config struct {
	Traces     []*Trace
	Capacities []int // entries
	Contenders []Contender
	// Progress, if not nil, is called after each replay.
	Progress func(Result)
}

// Result is one replay.
type Result struct {
	Trace    string  `json:"trace"`
	Capacity int     `json:"capacity"`
	Policy   string  `json:"policy"`
	Family   string  `json:"family"`
	Counts           // requests, hits, misses
	HitRatio float64 `json:"hit_ratio"`
	Seconds  float64 `json:"seconds"`
	Note     string  `json:"note,omitempty"`
}

// Row is every contender on one trace at one capacity.
type Row struct {
	Trace    string   `json:"trace"`
	Universe int      `json:"universe"`
	Requests int      `json:"requests"`
	Distinct int      `json:"distinct"` // cold misses: 1 - Distinct/Requests bounds every hit ratio
	Capacity int      `json:"capacity"`
	Results  []Result `json:"results"`
	Gaps     []Gap    `json:"gaps"`
}

// Gap compares the best of one family with the best W-TinyLFU.
type Gap struct {
	Family         string  `json:"family"`
	Best           string  `json:"best"`
	BestRatio      float64 `json:"best_hit_ratio"`
	Reference      string  `json:"reference"`
	ReferenceRatio float64 `json:"reference_hit_ratio"`
	// Points is (ReferenceRatio - BestRatio) × 100; negative when the
	// family does better.
	Points float64 `json:"points"`
	Within bool    `json:"within_goal"` // Points <= GoalPoints
}

// Compare replays every trace against a new cache of every contender at
// every capacity, one replay at a time, and returns a row per trace and
// capacity, in the order given.
func Compare(ctx context.Context, cfg Config) ([]Row, error) {
	var rows []Row
	for _, t := range cfg.Traces {
		distinct := t.Distinct()
		for _, capacity := range cfg.Capacities {
			row := Row{Trace: t.Name, Universe: t.Universe, Requests: len(t.Keys), Distinct: distinct, Capacity: capacity}
			for _, c := range cfg.Contenders {
				r, err := replay(ctx, t, capacity, c)
				if err != nil {
					return rows, err
				}
				if cfg.Progress != nil {
					cfg.Progress(r)
				}
				row.Results = append(row.Results, r)
			}
			row.Gaps = Gaps(row.Results)
			rows = append(rows, row)
		}
	}
	return rows, nil
}

func replay(ctx context.Context, t *Trace, capacity int, c Contender) (Result, error) {
	p, err := c.New(capacity)
	if err != nil {
		return Result{}, fmt.Errorf("%s at capacity %d: %w", c.Name, capacity, err)
	}
	if cl, ok := p.(interface{ Close() }); ok {
		defer cl.Close()
	}
	start := time.Now()
	counts, err := Run(ctx, t.Keys, p)
	r := Result{Trace: t.Name, Capacity: capacity, Policy: c.Name, Family: c.Family, Counts: counts,
		HitRatio: counts.HitRatio(), Seconds: time.Since(start).Seconds()}
	if n, ok := p.(interface{ Note() string }); ok {
		r.Note = n.Note()
	}
	return r, err
}

// Gaps compares the best result of each family other than W-TinyLFU, in
// order of first appearance, with the best W-TinyLFU result. Without a
// W-TinyLFU result there is nothing to compare with and no gap.
func Gaps(results []Result) []Gap {
	best := map[string]Result{}
	var families []string
	for _, r := range results {
		b, ok := best[r.Family]
		if !ok {
			families = append(families, r.Family)
		}
		if !ok || r.HitRatio > b.HitRatio {
			best[r.Family] = r
		}
	}
	ref, ok := best[FamilyTinyLFU]
	if !ok {
		return nil
	}
	var gaps []Gap
	for _, f := range families {
		if f == FamilyTinyLFU {
			continue
		}
		b := best[f]
		pts := (ref.HitRatio - b.HitRatio) * 100
		gaps = append(gaps, Gap{Family: f, Best: b.Policy, BestRatio: b.HitRatio, Reference: ref.Policy,
			ReferenceRatio: ref.HitRatio, Points: pts, Within: pts <= GoalPoints})
	}
	return gaps
}
