package proxy

import (
	"math"
	"time"
)

// WaitBucketCount is the number of buckets in a WaitStats histogram.
const WaitBucketCount = 1 + waitOctaves*waitPerOctave + 1

const (
	waitPerOctave = 8  // buckets per doubling: bounds 9 % apart
	waitOctaves   = 30 // from 1 µs to about 18 minutes
	waitFloor     = time.Microsecond
)

// WaitBucketBound returns the upper bound of bucket i of a WaitStats
// histogram: bucket 0 holds waits below 1 µs, bucket i ≥ 1 those from
// WaitBucketBound(i-1) up to (not including) 1 µs × 2^(i/8), and the
// last bucket everything longer; its bound is the largest Duration.
// The bounds are fixed, so histograms from different reads and
// different queues can be subtracted and added.
func WaitBucketBound(i int) time.Duration {
	switch {
	case i <= 0:
		return waitFloor
	case i >= WaitBucketCount-1:
		return math.MaxInt64
	}
	return time.Duration(float64(waitFloor) * math.Exp2(float64(i)/waitPerOctave))
}

// waitBucket returns the bucket a wait of d falls in.
func waitBucket(d time.Duration) int {
	if d < waitFloor {
		return 0
	}
	i := int(math.Floor(math.Log2(float64(d)/float64(waitFloor))*waitPerOctave)) + 1
	return min(i, WaitBucketCount-1)
}

// WaitStats describes how long requests wait in a Queue for a worker:
// from the moment the queue accepts a request (or takes it back from a
// worker that died, to send it again) to the moment it hands it to a
// worker. The counters and the histogram are cumulative since the
// queue started, so any number of readers can each keep their previous
// read and take the difference (Since) for the window between two
// reads. The struct has a fixed size: memory does not grow with load.
type WaitStats struct {
	// Arrived counts requests the queue accepted (refused ones are not
	// counted).
	Arrived uint64 `json:"arrived"`
	// Dispatched counts requests handed to a worker; a request sent
	// again after its worker died counts again. WaitSum is their total
	// wait and Counts their histogram, bucket i counting the waits
	// below WaitBucketBound(i) and not below WaitBucketBound(i-1).
	Dispatched uint64                  `json:"dispatched"`
	WaitSum    time.Duration           `json:"wait_sum"`
	Counts     [WaitBucketCount]uint64 `json:"counts"`
	// Replied counts replies from workers and ServiceSum their total
	// time from dispatch to reply (time in the worker and on the wire):
	// ServiceSum/Replied is the mean service time.
	Replied    uint64        `json:"replied"`
	ServiceSum time.Duration `json:"service_sum"`
	// Queued is the number of requests waiting now and OldestWait how
	// long the request at the head of the line has waited (a request
	// sent again goes first in line, its wait counted from its return).
	// Since keeps these from the newer read.
	Queued     int           `json:"queued"`
	OldestWait time.Duration `json:"oldest_wait"`
}

// Since returns the counters and histogram of s minus those of prev,
// an earlier read of the same queue: what happened between the two
// reads. Queued and OldestWait are those of s.
func (s WaitStats) Since(prev WaitStats) WaitStats {
	d := s
	d.Arrived -= prev.Arrived
	d.Dispatched -= prev.Dispatched
	d.WaitSum -= prev.WaitSum
	d.Replied -= prev.Replied
	d.ServiceSum -= prev.ServiceSum
	for i := range d.Counts {
		d.Counts[i] -= prev.Counts[i]
	}
	return d
}

// Quantile returns an estimate of the q-quantile (0 < q ≤ 1; 0.99 for
// the p99) of the waits counted in s, or 0 when none was counted. The
// estimate is interpolated within the bucket holding the rank, so it is
// off by less than the 9 % width of a bucket; in the last bucket it is
// that bucket's lower bound.
func (s WaitStats) Quantile(q float64) time.Duration {
	var total uint64
	for _, c := range s.Counts {
		total += c
	}
	if total == 0 || !(q > 0) {
		return 0
	}
	rank := math.Ceil(math.Min(q, 1) * float64(total)) // nearest rank, 1-based
	var seen float64
	for i, c := range s.Counts {
		if c == 0 || seen+float64(c) < rank {
			seen += float64(c)
			continue
		}
		if i == 0 {
			return 0
		}
		lo := float64(WaitBucketBound(i - 1))
		if i == WaitBucketCount-1 {
			return time.Duration(lo)
		}
		frac := (rank - seen) / float64(c)
		return time.Duration(lo * math.Exp2(frac/waitPerOctave))
	}
	return 0 // not reached
}

// Over returns an estimate of how many of the waits counted in s were
// longer than d: exact at bucket bounds, interpolated on a log scale
// within the bucket holding d (in the last bucket all of it counts, in
// the first none).
// Over(target)/Dispatched is the fraction of requests that waited past
// a target: at most 0.01 when the p99 is within it.
func (s WaitStats) Over(d time.Duration) float64 {
	i := waitBucket(d)
	var n float64
	for _, c := range s.Counts[i+1:] {
		n += float64(c)
	}
	switch i {
	case 0: // d under 1 µs: the waits of bucket 0 are taken as not longer
		return n
	case WaitBucketCount - 1:
		return n + float64(s.Counts[i])
	}
	lo, hi := float64(WaitBucketBound(i-1)), float64(WaitBucketBound(i))
	frac := math.Log(hi/float64(d)) / math.Log(hi/lo) // share of the bucket above d
	return n + float64(s.Counts[i])*frac
}

// MeanWait returns WaitSum/Dispatched, or 0 when nothing was dispatched.
func (s WaitStats) MeanWait() time.Duration {
	if s.Dispatched == 0 {
		return 0
	}
	return s.WaitSum / time.Duration(s.Dispatched)
}

// MeanService returns ServiceSum/Replied, or 0 without replies.
func (s WaitStats) MeanService() time.Duration {
	if s.Replied == 0 {
		return 0
	}
	return s.ServiceSum / time.Duration(s.Replied)
}

// waitRecorder keeps a pool's WaitStats; the pool calls it under its
// mutex, as each request is queued, dispatched and answered.
type waitRecorder struct {
	st WaitStats
}

// queued stamps r as waiting from now; arrival says it is new (not a
// request taken back from a worker).
func (w *waitRecorder) queued(r *request, arrival bool) {
	r.queuedAt = time.Now()
	if arrival {
		w.st.Arrived++
	}
}

// dispatched records r's wait as it goes to a worker.
func (w *waitRecorder) dispatched(r *request) {
	r.sentAt = time.Now()
	d := r.sentAt.Sub(r.queuedAt)
	w.st.Dispatched++
	w.st.WaitSum += d
	w.st.Counts[waitBucket(d)]++
}

// replied records r's time with its worker as its reply comes back.
func (w *waitRecorder) replied(r *request) {
	w.st.Replied++
	w.st.ServiceSum += time.Since(r.sentAt)
}

// waitStats returns the pool's WaitStats with the queue's current
// length and the age of the oldest head of line.
func (p *pool) waitStats() WaitStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.waits.st
	st.Queued = p.queued
	now := time.Now()
	for _, s := range p.services {
		if e := s.pending.Front(); e != nil {
			st.OldestWait = max(st.OldestWait, now.Sub(e.Value.(*request).queuedAt))
		}
	}
	return st
}

// WaitStats returns how long requests have waited for a worker since
// the queue started, and how many wait now. A control loop reads it
// every window and takes the difference from its previous read (see
// WaitStats.Since) for the window's wait percentiles, arrivals and
// mean service time.
func (q *Queue) WaitStats() WaitStats { return q.pool.waitStats() }
