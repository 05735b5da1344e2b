package hitratio

import (
	"fmt"
	"math/rand/v2"
)

// Trace is a named sequence of requested keys.
type Trace struct {
	// Name identifies the trace in reports ("zipf", "oltp").
	Name string
	// Universe is the number of keys the generator draws from (N); a
	// capacity given in percent is a share of it. The OLTP trace also
	// has one-time keys outside it.
	Universe int
	// Keys are the requests in order.
	Keys []uint64
}

// Distinct counts the distinct keys of the trace: the cold misses every
// policy pays, whatever its capacity.
func (t *Trace) Distinct() int {
	seen := make(map[uint64]struct{}, t.Universe)
	for _, k := range t.Keys {
		seen[k] = struct{}{}
	}
	return len(seen)
}

// ZipfTrace draws length keys from a Zipf distribution with exponent s
// over n keys, seeded by seed. Key of rank k is mixKey(k).
func ZipfTrace(n, length int, s float64, seed uint64) (*Trace, error) {
	if length < 0 {
		return nil, fmt.Errorf("%w: length %d", ErrParam, length)
	}
	z, err := NewZipf(n, s)
	if err != nil {
		return nil, err
	}
	r := newRand(seed)
	keys := make([]uint64, length)
	for i := range keys {
		keys[i] = mixKey(uint64(z.Sample(r)))
	}
	return &Trace{Name: "zipf", Universe: n, Keys: keys}, nil
}

// newRand is the generators' source: PCG, whose output math/rand/v2
// specifies, so a seed gives the same trace on every Go version.
func newRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
}

// mixKey names key number x: x+1 through the splitmix64 finalizer, a
// bijection, so distinct numbers stay distinct keys and no key is 0.
func mixKey(x uint64) uint64 {
	x++
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
