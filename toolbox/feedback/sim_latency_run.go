package feedback

import (
	"container/heap"
	"fmt"
	"math"
	"slices"
	"time"
)

// latencyRun is one run of a latency scenario: one limiter, or none, on
// its own simulator.
type latencyRun struct {
	name     string
	limited  bool
	rowP99   []float64 // p99 of each trace row's completions, ms (NaN: none)
	rowLimit []float64 // mean limit over each row's windows (NaN: no limit)
	winLimit []float64 // limit at the end of each window (NaN: no limit)
	phases   []latencyPhase
}

// latencyPhase sums up one load phase of a run.
type latencyPhase struct {
	load     float64
	duration time.Duration
	// p99 is the nearest-rank p99 of the completions in the phase after
	// the allowance (0: none).
	p99 time.Duration
	// settle is how long after the phase began the p99 over the last
	// second came within tolerance of the target, with the p99 of the
	// rest of the phase within it too; -1: never.
	settle time.Duration
	// worst is the highest p99 over the last second after the
	// allowance, and out the share of windows after the allowance at
	// which it was above tolerance.
	worst                          time.Duration
	out                            float64
	meanLimit                      float64 // NaN without a limit
	arrivals, rejected, done, good int
}

func (p latencyPhase) throughput() float64 { return float64(p.done) / p.duration.Seconds() }
func (p latencyPhase) goodput() float64    { return float64(p.good) / p.duration.Seconds() }

// runLatency runs cfg's phases with the limiter nl builds, or with no
// limit when nl is nil. Each phase's p99 counts the completions after
// allowance from its start.
func runLatency(cfg LatencySim, nl *NamedLimiter, allowance time.Duration, sliding bool) (*latencyRun, error) {
	sim := NewSim(cfg.Seed)
	run := &latencyRun{name: unlimitedName}
	var lim Limiter
	if nl != nil {
		l, err := nl.New(sim.Now)
		if err != nil {
			return nil, fmt.Errorf("latency sim: limiter %q: %w", nl.Name, err)
		}
		if l == nil {
			return nil, fmt.Errorf("%w: latency sim: limiter %q built nil", ErrSimConfig, nl.Name)
		}
		lim, run.name, run.limited = l, nl.Name, true
	}
	capacity := float64(cfg.Servers) / cfg.ServiceMean.Seconds()
	var q *QueueServer
	var lats []time.Duration // completions of the current window
	q, err := NewQueueServer(sim, QueueConfig{
		Servers:  cfg.Servers,
		Service:  Exponential(cfg.ServiceMean),
		Rate:     cfg.Phases[0].Load * capacity,
		Deadline: cfg.Target,
		OnComplete: func(lat time.Duration, inflight int) {
			lats = append(lats, lat)
			if lim != nil {
				lim.OnSample(lat, inflight, false)
				q.SetLimit(lim.Limit())
			}
		},
	})
	if err != nil {
		return nil, err
	}
	if lim != nil {
		q.SetLimit(lim.Limit())
	}
	pr := &phaseRunner{cfg: cfg, q: q, lim: lim, lats: &lats, run: run, allowance: allowance, sliding: sliding}
	for i, ph := range cfg.Phases {
		if i > 0 {
			q.SetArrivalRate(ph.Load * capacity)
		}
		run.phases = append(run.phases, pr.phase(ph))
	}
	return run, nil
}

// phaseRunner steps one run window by window.
type phaseRunner struct {
	cfg       LatencySim
	q         *QueueServer
	lim       Limiter
	lats      *[]time.Duration // filled by the completion hook
	run       *latencyRun
	allowance time.Duration
	sliding   bool // measure the sliding p99 and the settling time

	// the trace row being gathered
	rowLats  []time.Duration
	rowLimit float64
	rowWins  int
	scratch  []time.Duration
}

// phaseAcc gathers one phase window by window.
type phaseAcc struct {
	out      latencyPhase
	wins     [][]time.Duration // each window's completions
	within   []bool            // the sliding p99 within tolerance at each window's end
	pooled   []time.Duration   // completions after the allowance
	limitSum float64
	after    int // windows after the allowance
	outAfter int // of which with the sliding p99 out of tolerance
}

// count adds a window's counters.
func (a *phaseAcc) count(s QueueStats) {
	a.out.arrivals += s.Arrivals
	a.out.rejected += s.Rejected
	a.out.done += s.Completed
	a.out.good += int(math.Round(s.Goodput * s.Window.Seconds()))
}

// phase runs one load phase and sums it up.
func (pr *phaseRunner) phase(ph LoadPhase) latencyPhase {
	cfg := pr.cfg
	windows := int(ph.Duration / cfg.Window)
	slideLen := max(int(latencySliding/cfg.Window), 1)
	a := &phaseAcc{out: latencyPhase{load: ph.Load, duration: ph.Duration}, wins: make([][]time.Duration, 0, windows)}
	for w := range windows {
		*pr.lats = (*pr.lats)[:0]
		s := pr.q.Step(cfg.Window)
		lats := slices.Clone(*pr.lats)
		a.count(s)
		a.wins = append(a.wins, lats)
		var p99 time.Duration
		bad := false
		if pr.sliding {
			p99, bad = pr.slidingP99(a.wins[max(0, len(a.wins)-slideLen):], s.InFlight)
			a.within = append(a.within, !bad)
		}
		if time.Duration(w)*cfg.Window >= pr.allowance {
			a.pooled = append(a.pooled, lats...)
			a.after++
			a.out.worst = max(a.out.worst, p99)
			if bad {
				a.outAfter++
			}
		}
		limit := math.NaN()
		if pr.lim != nil {
			limit = float64(pr.lim.Limit())
			a.limitSum += limit
		}
		pr.run.winLimit = append(pr.run.winLimit, limit)
		pr.addToRow(lats, limit)
	}
	return pr.finish(a, windows)
}

// finish sums up a phase of windows windows.
func (pr *phaseRunner) finish(a *phaseAcc, windows int) latencyPhase {
	out := a.out
	if pr.sliding {
		out.settle = pr.settle(a.wins, a.within)
	}
	if a.after > 0 {
		out.out = float64(a.outAfter) / float64(a.after)
	}
	out.meanLimit = math.NaN()
	if pr.lim != nil {
		out.meanLimit = a.limitSum / float64(windows)
	}
	if len(a.pooled) > 0 {
		out.p99 = p99Of(a.pooled)
	}
	return out
}

// settle returns the end of the first window, from the phase's start,
// at which the sliding p99 was within tolerance and after which the p99
// of the rest of the phase's completions is within tolerance too; -1
// when there is none.
func (pr *phaseRunner) settle(wins [][]time.Duration, within []bool) time.Duration {
	limit := time.Duration(latencyTolerance * float64(pr.cfg.Target))
	// rest[w]: the p99 of the completions after window w is within
	// tolerance; computed from the phase's end backwards.
	rest := make([]bool, len(wins))
	var tail tailRank
	for w := len(wins) - 1; w >= 0; w-- {
		rest[w] = tail.n() == 0 || tail.p99() <= limit
		for _, d := range wins[w] {
			tail.add(d)
		}
	}
	for w := range wins {
		if within[w] && rest[w] {
			return time.Duration(w+1) * pr.cfg.Window
		}
	}
	return -1
}

// slidingP99 returns the p99 over the sliding windows and whether it is
// above tolerance of the target, or nothing completed in them while
// requests were in flight.
func (pr *phaseRunner) slidingP99(slide [][]time.Duration, inflight int) (time.Duration, bool) {
	pr.scratch = pr.scratch[:0]
	for _, ls := range slide {
		pr.scratch = append(pr.scratch, ls...)
	}
	if len(pr.scratch) == 0 {
		return 0, inflight > 0
	}
	p99 := p99Of(pr.scratch)
	return p99, float64(p99) > latencyTolerance*float64(pr.cfg.Target)
}

// addToRow adds a window to the trace row, closing the row when it has
// its windows.
func (pr *phaseRunner) addToRow(lats []time.Duration, limit float64) {
	pr.rowLats = append(pr.rowLats, lats...)
	pr.rowLimit += limit
	pr.rowWins++
	if time.Duration(pr.rowWins)*pr.cfg.Window < pr.cfg.Row {
		return
	}
	p99 := math.NaN()
	if len(pr.rowLats) > 0 {
		p99 = durMillis(p99Of(pr.rowLats))
	}
	pr.run.rowP99 = append(pr.run.rowP99, p99)
	pr.run.rowLimit = append(pr.run.rowLimit, pr.rowLimit/float64(pr.rowWins))
	pr.rowLats, pr.rowLimit, pr.rowWins = pr.rowLats[:0], 0, 0
}

// p99Of returns the nearest-rank p99 of xs, not empty, as nearestRank
// does on sorted values; it reorders xs.
func p99Of(xs []time.Duration) time.Duration {
	return nthDuration(xs, max(int(math.Ceil(0.99*float64(len(xs))))-1, 0))
}

func durMillis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// runLatencyAll runs every limiter of cfg and then, unless left out,
// the run with no limit.
func runLatencyAll(cfg LatencySim, allowance time.Duration, sliding bool) ([]*latencyRun, error) {
	var runs []*latencyRun
	for i := range cfg.Limiters {
		r, err := runLatency(cfg, &cfg.Limiters[i], allowance, sliding)
		if err != nil {
			return nil, err
		}
		runs = append(runs, r)
	}
	if cfg.NoUnlimited {
		return runs, nil
	}
	r, err := runLatency(cfg, nil, allowance, sliding)
	if err != nil {
		return nil, err
	}
	return append(runs, r), nil
}

// tailRank keeps the nearest-rank p99 of a growing set of durations:
// the k largest in a min-heap, the others in a max-heap, where k is the
// rank of the p99 counted from the top.
type tailRank struct {
	top, rest durHeap
}

func (t *tailRank) n() int { return t.top.Len() + t.rest.Len() }

func (t *tailRank) add(d time.Duration) {
	if t.top.Len() > 0 && d > t.top.d[0] {
		heap.Push(&t.top, d)
	} else {
		heap.Push(&t.rest, -d) // a max-heap as a min-heap of negatives
	}
	n := t.n()
	k := n - int(math.Ceil(0.99*float64(n))) + 1
	for t.top.Len() > k {
		heap.Push(&t.rest, -heap.Pop(&t.top).(time.Duration))
	}
	for t.top.Len() < k && t.rest.Len() > 0 {
		heap.Push(&t.top, -heap.Pop(&t.rest).(time.Duration))
	}
}

// p99 returns the nearest-rank p99; the set must not be empty.
func (t *tailRank) p99() time.Duration { return t.top.d[0] }

// durHeap is a min-heap of durations.
type durHeap struct{ d []time.Duration }

func (h durHeap) Len() int           { return len(h.d) }
func (h durHeap) Less(i, j int) bool { return h.d[i] < h.d[j] }
func (h durHeap) Swap(i, j int)      { h.d[i], h.d[j] = h.d[j], h.d[i] }
func (h *durHeap) Push(x any)        { h.d = append(h.d, x.(time.Duration)) }
func (h *durHeap) Pop() any {
	x := h.d[len(h.d)-1]
	h.d = h.d[:len(h.d)-1]
	return x
}
