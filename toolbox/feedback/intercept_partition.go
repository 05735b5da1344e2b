package feedback

import "math"

// Partition is a class of requests with a guaranteed share of a
// ServerLimiter's limit. Partitions are given in priority order, the
// first the most important (see WithPartitions).
type Partition struct {
	// Name is the class, as the classifier returns it: by default the
	// value of the request's core.MetaPriority metadata, such as
	// "interactive" or "batch". Names must be distinct; "" is allowed.
	Name string
	// Share is the fraction of the limit, in (0, 1], kept for this
	// class: floor(Share × Limit()) of its requests are admitted even
	// when less important classes would fill the limit. The shares of
	// all partitions add up to at most 1.
	Share float64
}

// partition is one Partition's live state, guarded by the
// ServerLimiter's mutex.
type partition struct {
	Partition
	inflight       int
	admitted, shed uint64
}

// checkPartitions validates the list WithPartitions was given.
func checkPartitions(parts []Partition) error {
	if len(parts) == 0 {
		return interceptErr("WithPartitions: no partitions")
	}
	seen := make(map[string]bool, len(parts))
	sum := 0.0
	for _, p := range parts {
		if !(p.Share > 0 && p.Share <= 1) {
			return interceptErr("partition %q: share %v, want 0 < share ≤ 1", p.Name, p.Share)
		}
		if seen[p.Name] {
			return interceptErr("partition %q given twice", p.Name)
		}
		seen[p.Name] = true
		sum += p.Share
	}
	if sum > 1+1e-9 {
		return interceptErr("partition shares add up to %v, want ≤ 1", sum)
	}
	return nil
}

// guaranteed is how many of limit's slots partition p keeps for itself.
func (p *partition) guaranteed(limit int) int {
	return int(math.Floor(p.Share*float64(limit) + 1e-9))
}

// admitLocked reports whether a request of parts[i] may start while
// total requests are in flight under limit: a partition may always use
// its own guaranteed share (within the limit), and beyond it only the
// slots that no more important partition keeps unused. So a request
// of an important class may borrow the idle share of a less important
// one, never the other way round.
func admitLocked(parts []*partition, i, total, limit int) bool {
	if total >= limit {
		return false
	}
	p := parts[i]
	if p.inflight < p.guaranteed(limit) {
		return true
	}
	reserved := 0
	for _, q := range parts[:i] {
		reserved += max(0, q.guaranteed(limit)-q.inflight)
	}
	return total+1+reserved <= limit
}
