package feedback

import (
	"slices"
	"time"
)

// envoyMaxWindowSamples bounds the round trips one window keeps for its
// percentile; later ones in the same window are counted toward the
// window's busy test and peak but not kept.
const envoyMaxWindowSamples = 8192

// envoyMaxRTTSamples bounds the round trips the min RTT is measured
// from: the latest ones, within the re-measurement interval.
const envoyMaxRTTSamples = 2048

// envoyRecentWindows is how many windows back the limit a no-load
// sample is judged against reaches: a limit that just rose lets
// requests queue at half of it until the next window shows it.
const envoyRecentWindows = 10

// envoyWindow gathers the samples of one window of an EnvoyGradient.
type envoyWindow struct {
	start       time.Duration   // clock reading at which the window began
	rtts        []time.Duration // round trips, at most envoyMaxWindowSamples
	infl        []int           // in flight when each was sent
	low         int             // the least limit of the recent windows
	near        int             // samples sent with ≥ 9/10 of the limit in flight
	maxInflight int             // the most in flight any sample was sent with
}

// add records one round trip sent with inflight requests in flight,
// against the limit in force now.
func (w *envoyWindow) add(rtt time.Duration, inflight, limit int) {
	if 10*inflight >= 9*limit {
		w.near++
	}
	w.maxInflight = max(w.maxInflight, inflight)
	if len(w.rtts) >= envoyMaxWindowSamples {
		return
	}
	w.rtts = append(w.rtts, rtt)
	w.infl = append(w.infl, inflight)
}

// light appends to dst the window's no-load round trips: those sent
// with at most half the least recent limit in flight, and no more than
// the quarter of the window's samples sent with the fewest in flight.
// scratch is reused for sorting and returned.
func (w *envoyWindow) light(dst []time.Duration, scratch []int) ([]time.Duration, []int) {
	scratch = append(scratch[:0], w.infl...)
	slices.Sort(scratch)
	cut := min(scratch[(len(scratch)-1)/4], w.low/2)
	for i, n := range w.infl {
		if n <= cut {
			dst = append(dst, w.rtts[i])
		}
	}
	return dst, scratch
}

// reset empties the window, which now begins at start; low is the
// least limit of the recent windows, this one's included.
func (w *envoyWindow) reset(start time.Duration, low int) {
	w.start, w.low = start, low
	w.rtts, w.infl = w.rtts[:0], w.infl[:0]
	w.near, w.maxInflight = 0, 0
}

// envoyRing keeps the latest samples pushed into it, each with the
// clock reading at which it was pushed.
type envoyRing struct {
	rtts []time.Duration
	at   []time.Duration
	next int // slot the next push writes
	n    int // slots in use
}

func newEnvoyRing(size int) envoyRing {
	return envoyRing{rtts: make([]time.Duration, size), at: make([]time.Duration, size)}
}

func (r *envoyRing) cap() int { return len(r.rtts) }

// push adds rtts, taken at time at; the oldest samples make room.
func (r *envoyRing) push(rtts []time.Duration, at time.Duration) {
	if len(rtts) > r.cap() {
		rtts = rtts[len(rtts)-r.cap():]
	}
	for _, d := range rtts {
		r.rtts[r.next], r.at[r.next] = d, at
		r.next = (r.next + 1) % r.cap()
		r.n = min(r.n+1, r.cap())
	}
}

// fresh appends to dst the samples pushed at or after since.
func (r *envoyRing) fresh(since time.Duration, dst []time.Duration) []time.Duration {
	for i := range r.n {
		if r.at[i] >= since {
			dst = append(dst, r.rtts[i])
		}
	}
	return dst
}
