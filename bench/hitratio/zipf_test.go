package hitratio

import (
	"errors"
	"math"
	"testing"
)

// harmonic is the generalized harmonic number H(n, s), summed directly.
func harmonic(n int, s float64) float64 {
	var h float64
	for k := n; k >= 1; k-- { // small terms first
		h += math.Pow(float64(k), -s)
	}
	return h
}

func TestZipfProb(t *testing.T) {
	for _, s := range []float64{0, 0.5, 1, 1.2} {
		z, err := NewZipf(1000, s)
		if err != nil {
			t.Fatal(err)
		}
		h := harmonic(1000, s)
		var sum float64
		for k := range z.N() {
			want := math.Pow(float64(k+1), -s) / h
			if got := z.Prob(k); math.Abs(got-want) > 1e-12 {
				t.Fatalf("s=%v: P(%d) = %v, want %v", s, k, got, want)
			}
			sum += z.Prob(k)
		}
		if math.Abs(sum-1) > 1e-9 {
			t.Errorf("s=%v: probabilities sum to %v", s, sum)
		}
	}
}

// TestZipfSampleTopKeys draws s=1 samples and checks each of the top
// ranks' frequency, and the top 1%'s share, against 1/(k+1)/H(n, 1),
// within 5 binomial standard deviations.
func TestZipfSampleTopKeys(t *testing.T) {
	const n, draws = 10000, 1_000_000
	z, err := NewZipf(n, 1)
	if err != nil {
		t.Fatal(err)
	}
	r := newRand(42)
	counts := make([]int, n)
	for range draws {
		counts[z.Sample(r)]++
	}
	h := harmonic(n, 1)
	check := func(what string, got int, p float64) {
		t.Helper()
		want, sd := draws*p, math.Sqrt(draws*p*(1-p))
		if math.Abs(float64(got)-want) > 5*sd {
			t.Errorf("%s: %d draws, want %.0f ± %.0f", what, got, want, 5*sd)
		}
	}
	var top, ptop float64
	for k := range 20 {
		check("rank "+itoa(k), counts[k], 1/float64(k+1)/h)
	}
	for k := range n / 100 {
		top += float64(counts[k])
		ptop += 1 / float64(k+1) / h
	}
	check("top 1%", int(top), ptop)
	// The top rank alone is about 1/H(10000) ≈ 10.2% of draws.
	if f := float64(counts[0]) / draws; f < 0.095 || f > 0.11 {
		t.Errorf("rank 0 share %.4f", f)
	}
}

func itoa(k int) string { return string(rune('0'+k/10)) + string(rune('0'+k%10)) }

func TestZipfRange(t *testing.T) {
	z, err := NewZipf(3, 1)
	if err != nil {
		t.Fatal(err)
	}
	r := newRand(1)
	for range 10000 {
		if k := z.Sample(r); k < 0 || k >= 3 {
			t.Fatalf("sample %d out of [0,3)", k)
		}
	}
	for _, bad := range []struct {
		n int
		s float64
	}{{0, 1}, {-1, 1}, {10, -0.5}, {10, math.NaN()}, {10, math.Inf(1)}} {
		if _, err := NewZipf(bad.n, bad.s); !errors.Is(err, ErrParam) {
			t.Errorf("NewZipf(%d, %v) = %v, want ErrParam", bad.n, bad.s, err)
		}
	}
}
