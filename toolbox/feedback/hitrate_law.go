package feedback

import "math"

// lawSize is the built-in law: integral action on ln(size), when the
// error is significant, and within the not-full rule. ok false means
// hold (w.Action says why).
func (l *HitRateLoop) lawSize(w *HitRateWindow, n HitCounts, target float64) (size int, ok bool) {
	e, significant := l.significantError(w, target)
	if !significant {
		l.reversing = false
		w.Action = HitRateInBand
		return 0, false
	}
	if l.against(e) && !l.reversing { // reversing needs two windows in a row
		l.reversing = true
		w.Action = HitRateConfirming
		return 0, false
	}
	l.reversing = false
	step := l.cfg.gain * e
	limit := math.Log(l.cfg.maxStep)
	step = min(max(step, -limit), limit)
	if step > 0 && n.Entries >= 0 && float64(n.Entries) < hitFullFraction*float64(w.Size) {
		w.Action = HitRateHeldNotFull
		return 0, false
	}
	cur := max(w.Size, 1)
	size = int(math.Round(float64(cur) * math.Exp(step)))
	if size == cur { // a small cache still moves by one entry
		size += int(math.Copysign(1, step))
	}
	return size, true
}

// hitFullFraction is the fill below which a cache counts as not full.
const hitFullFraction = 0.95

// significantError returns the error the law acts on and whether it is
// beyond its deadband: the window's own error when that is (a change
// of load shows at once), else the error of the windows pooled since
// the last resize or change (a small steady offset shows as they add
// up).
func (l *HitRateLoop) significantError(w *HitRateWindow, target float64) (float64, bool) {
	e := target - w.Measured
	se := math.Sqrt(w.Measured * (1 - w.Measured) / float64(w.Lookups))
	if sd, ok := l.pool.sd(); ok {
		se = max(se, sd) // windows vary more than a binomial says
	}
	a := l.cfg.smoothing
	se *= math.Sqrt(a / (2 - a)) // the smoothed value varies less
	if math.Abs(e) > l.band(e, 3*se) {
		l.pool.restart(w) // a change: the windows before tell nothing now
		return e, true
	}
	l.pool.add(w)
	if h, se, ok := l.pool.mean(); ok {
		if ep := target - h; math.Abs(ep) > l.band(ep, 2*se) {
			return ep, true
		}
	}
	return e, false
}

// band is the deadband for error e given its noise: the larger of the
// configured deadband and noise, doubled when e asks to reverse the
// last resize.
func (l *HitRateLoop) band(e, noise float64) float64 {
	b := max(l.cfg.deadband, noise)
	if l.against(e) {
		b *= 2
	}
	return b
}

// against reports whether error e asks to move against the last resize.
func (l *HitRateLoop) against(e float64) bool {
	return l.lastDir != 0 && e != 0 && (e > 0) != (l.lastDir > 0)
}

// hitPool pools the windows since the last resize (but the first after
// it, whose hit rate is still moving towards the new size's) or since
// the last window far from the target (a change of load).
type hitPool struct {
	skip          bool // the next window is the first after a resize
	windows       int
	hits, lookups uint64
	prev          float64 // the last window's hit rate
	sqDiffs       float64 // sum of squared successive differences
}

// reset empties the pool after a resize.
func (p *hitPool) reset() { *p = hitPool{skip: true} }

// restart empties the pool and adds w.
func (p *hitPool) restart(w *HitRateWindow) {
	*p = hitPool{}
	p.add(w)
}

func (p *hitPool) add(w *HitRateWindow) {
	if p.skip {
		p.skip = false
		return
	}
	if p.windows > 0 {
		d := w.HitRate - p.prev
		p.sqDiffs += d * d
	}
	p.windows++
	p.hits += w.Hits
	p.lookups += w.Lookups
	p.prev = w.HitRate
}

// sd estimates the standard deviation of a window's hit rate from the
// successive differences of the pooled windows (a slow drift barely
// counts), from three windows on.
func (p *hitPool) sd() (float64, bool) {
	if p.windows < 3 {
		return 0, false
	}
	return math.Sqrt(p.sqDiffs / (2 * float64(p.windows-1))), true
}

// mean is the pooled hit rate and its standard error, from two windows
// on: the larger of the binomial one and the windows' spread over √n.
func (p *hitPool) mean() (h, se float64, ok bool) {
	if p.windows < 2 {
		return 0, 0, false
	}
	h = float64(p.hits) / float64(p.lookups)
	se = math.Sqrt(h * (1 - h) / float64(p.lookups))
	if sd, ok := p.sd(); ok {
		se = max(se, sd/math.Sqrt(float64(p.windows)))
	}
	return h, se, true
}
