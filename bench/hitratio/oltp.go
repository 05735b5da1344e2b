package hitratio

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// OLTP is a synthetic OLTP-like workload over a table of Rows rows. Each
// operation of the trace is one of three kinds:
//
//   - A point lookup (the rest of the requests): a rank is drawn from a
//     Zipf distribution with exponent Skew over Rows ranks, and a
//     permutation maps ranks to rows, so the hot rows are spread over
//     the table. The hot set drifts: every DriftEvery requests one rank
//     among the top HotShare of ranks swaps its row with a rank drawn
//     uniformly from the whole table, so a hot row turns cold and a cold
//     one hot, a few at a time, as trending items, active accounts or
//     open orders change.
//   - A range scan (about ScanShare of the requests): a start row drawn
//     uniformly, then ScanMin..ScanMax (uniform) consecutive rows
//     (wrapping at the end of the table), one request each, as a report
//     or a paginated listing reads them.
//   - A one-time key (about OneTimeShare of the requests): a key never
//     requested before or after, outside the table, as a lookup of a
//     fresh session, a nonce or a missing row.
//
// Scans and one-time keys are the pollution that separates a
// scan-resistant policy from plain LRU; the drift punishes a policy
// that holds on to formerly hot rows for too long.
type OLTP struct {
	Rows         int     // rows in the table (N); at least 1
	Skew         float64 // Zipf exponent of point lookups; >= 0
	HotShare     float64 // share of ranks the drift takes hot rows from; (0,1]
	DriftEvery   int     // requests between two drift swaps; 0 for no drift
	ScanShare    float64 // expected share of requests that belong to scans; [0,1)
	ScanMin      int     // shortest scan, rows; >= 1
	ScanMax      int     // longest scan, rows; >= ScanMin
	OneTimeShare float64 // expected share of one-time requests; [0,1)
}

// DefaultOLTP is the model the benchmark reports: Skew 0.9, drift swaps
// every 200 requests taken from the top 1% of ranks, 15% of requests in
// scans of 16 to 128 rows, 5% one-time keys.
func DefaultOLTP(rows int) OLTP {
	return OLTP{Rows: rows, Skew: 0.9, HotShare: 0.01, DriftEvery: 200,
		ScanShare: 0.15, ScanMin: 16, ScanMax: 128, OneTimeShare: 0.05}
}

func (o OLTP) validate() error {
	share := func(x float64) bool { return x >= 0 && x < 1 }
	if o.Rows < 1 || !(o.HotShare > 0 && o.HotShare <= 1) || o.DriftEvery < 0 ||
		!share(o.ScanShare) || !share(o.OneTimeShare) || o.ScanShare+o.OneTimeShare >= 1 ||
		o.ScanMin < 1 || o.ScanMax < o.ScanMin {
		return fmt.Errorf("%w: oltp %+v", ErrParam, o)
	}
	return nil
}

// Generate makes a trace of length requests, seeded by seed. Row r is
// key mixKey(r); one-time key i is mixKey(1<<63 | i).
func (o OLTP) Generate(length int, seed uint64) (*Trace, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if length < 0 {
		return nil, fmt.Errorf("%w: length %d", ErrParam, length)
	}
	z, err := NewZipf(o.Rows, o.Skew)
	if err != nil {
		return nil, err
	}
	g := &oltpGen{o: o, z: z, r: newRand(seed), perm: make([]uint64, o.Rows)}
	for i := range g.perm {
		g.perm[i] = uint64(i)
	}
	g.r.Shuffle(len(g.perm), func(i, j int) { g.perm[i], g.perm[j] = g.perm[j], g.perm[i] })
	g.scanStart, g.oneTimeStart = o.operationShares()
	keys := make([]uint64, 0, length)
	for len(keys) < length {
		keys = g.operation(keys, length)
	}
	return &Trace{Name: "oltp", Universe: o.Rows, Keys: keys}, nil
}

// operationShares turns the request shares into probabilities per
// operation: a scan operation yields mean-length requests, the others
// one each. With q_s, q_o the operation probabilities and m the mean
// scan length, requests in scans are q_s*m / (q_s*m + 1 - q_s) = S and
// one-time requests are q_o / (q_s*m + 1 - q_s) = T; solving gives
// q_s = S / (m - S*m + S) and q_o = T * (q_s*m + 1 - q_s).
func (o OLTP) operationShares() (scan, oneTime float64) {
	m := float64(o.ScanMin+o.ScanMax) / 2
	scan = o.ScanShare / (m - o.ScanShare*m + o.ScanShare)
	oneTime = o.OneTimeShare * (scan*m + 1 - scan)
	return scan, oneTime
}

// oltpGen is the state of one OLTP generation.
type oltpGen struct {
	o                       OLTP
	z                       *Zipf
	r                       *rand.Rand
	perm                    []uint64 // rank -> row
	scanStart, oneTimeStart float64  // probabilities per operation
	requests, oneTimes      uint64
}

// operation appends the requests of one operation, at most up to limit.
func (g *oltpGen) operation(keys []uint64, limit int) []uint64 {
	u := g.r.Float64()
	switch {
	case u < g.scanStart:
		n := g.o.ScanMin + g.r.IntN(g.o.ScanMax-g.o.ScanMin+1)
		row := g.r.IntN(g.o.Rows)
		for i := 0; i < n && len(keys) < limit; i++ {
			keys = g.request(keys, mixKey(uint64((row+i)%g.o.Rows)))
		}
	case u < g.scanStart+g.oneTimeStart:
		keys = g.request(keys, mixKey(1<<63|g.oneTimes))
		g.oneTimes++
	default:
		keys = g.request(keys, mixKey(g.perm[g.z.Sample(g.r)]))
	}
	return keys
}

// request appends one key and drifts the hot set on schedule.
func (g *oltpGen) request(keys []uint64, k uint64) []uint64 {
	g.requests++
	if g.o.DriftEvery > 0 && g.requests%uint64(g.o.DriftEvery) == 0 {
		hot := max(1, int(math.Round(g.o.HotShare*float64(g.o.Rows))))
		i, j := g.r.IntN(hot), g.r.IntN(g.o.Rows)
		g.perm[i], g.perm[j] = g.perm[j], g.perm[i]
	}
	return append(keys, k)
}
