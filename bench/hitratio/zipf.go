package hitratio

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// ErrParam is returned for a generator or policy parameter out of range.
var ErrParam = errors.New("hitratio: parameter out of range")

// Zipf samples ranks 0..n-1 with P(rank k) proportional to 1/(k+1)^s, by
// inverse CDF: a uniform u in [0,1) maps to the first rank whose
// cumulative probability exceeds u (binary search). The table costs 8
// bytes per rank. Any s >= 0 is accepted, s = 0 being uniform.
type Zipf struct {
	cdf []float64
	s   float64
}

// NewZipf precomputes the cumulative table of n ranks with exponent s.
func NewZipf(n int, s float64) (*Zipf, error) {
	if n < 1 || math.IsNaN(s) || math.IsInf(s, 0) || s < 0 {
		return nil, fmt.Errorf("%w: zipf n=%d s=%v (want n >= 1, finite s >= 0)", ErrParam, n, s)
	}
	cdf := make([]float64, n)
	var sum, c float64 // Kahan summation keeps the tail exact at large n
	for k := range n {
		y := math.Pow(float64(k+1), -s) - c
		t := sum + y
		c = (t - sum) - y
		sum = t
		cdf[k] = sum
	}
	for k := range cdf {
		cdf[k] /= sum
	}
	cdf[n-1] = 1
	return &Zipf{cdf: cdf, s: s}, nil
}

// N is the number of ranks.
func (z *Zipf) N() int { return len(z.cdf) }

// Prob is the probability of rank k.
func (z *Zipf) Prob(k int) float64 {
	if k == 0 {
		return z.cdf[0]
	}
	return z.cdf[k] - z.cdf[k-1]
}

// Sample draws one rank using r.
func (z *Zipf) Sample(r *rand.Rand) int {
	u := r.Float64()
	return sort.Search(len(z.cdf), func(i int) bool { return z.cdf[i] > u })
}
