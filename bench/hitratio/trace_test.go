package hitratio

import (
	"errors"
	"math"
	"slices"
	"testing"
)

func TestTracesDeterministic(t *testing.T) {
	gen := map[string]func(seed uint64) (*Trace, error){
		"zipf": func(seed uint64) (*Trace, error) { return ZipfTrace(1000, 20000, 1, seed) },
		"oltp": func(seed uint64) (*Trace, error) { return DefaultOLTP(1000).Generate(20000, seed) },
	}
	for name, g := range gen {
		a, err := g(7)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := g(7)
		c, _ := g(8)
		if len(a.Keys) != 20000 || a.Name != name || a.Universe != 1000 {
			t.Errorf("%s: %d keys, name %q, universe %d", name, len(a.Keys), a.Name, a.Universe)
		}
		if !slices.Equal(a.Keys, b.Keys) {
			t.Errorf("%s: seed 7 gave two different traces", name)
		}
		if slices.Equal(a.Keys, c.Keys) {
			t.Errorf("%s: seeds 7 and 8 gave the same trace", name)
		}
	}
}

// TestOLTPShares checks the model against its parameters: the shares of
// one-time keys and of scan rows, and that the hot set drifts.
func TestOLTPShares(t *testing.T) {
	const rows, length = 10000, 400000
	o := DefaultOLTP(rows)
	tr, err := o.Generate(length, 3)
	if err != nil {
		t.Fatal(err)
	}
	rowKey := map[uint64]int{}
	for r := range rows {
		rowKey[mixKey(uint64(r))] = r
	}
	var oneTime, inRun int
	seen := map[uint64]int{}
	prev := -2
	for _, k := range tr.Keys {
		r, ok := rowKey[k]
		if !ok {
			oneTime++
			seen[k]++
			prev = -2
			continue
		}
		if r == (prev+1)%rows {
			inRun++ // second and later rows of a scan, and rare chance successors
		}
		prev = r
	}
	for k, n := range seen {
		if n != 1 {
			t.Fatalf("one-time key %x requested %d times", k, n)
		}
	}
	if f := float64(oneTime) / length; math.Abs(f-o.OneTimeShare) > 0.01 {
		t.Errorf("one-time share %.4f, want %.2f", f, o.OneTimeShare)
	}
	// A scan of L rows adds L-1 successor pairs: mean L = 72 here.
	want := o.ScanShare * (71.0 / 72)
	if f := float64(inRun) / length; math.Abs(f-want) > 0.015 {
		t.Errorf("scan successor share %.4f, want about %.3f", f, want)
	}
	// Drift: the hottest rows of the first and the last quarter differ.
	top := func(keys []uint64) map[uint64]bool {
		n := map[uint64]int{}
		for _, k := range keys {
			n[k]++
		}
		ks := make([]uint64, 0, len(n))
		for k := range n {
			ks = append(ks, k)
		}
		slices.SortFunc(ks, func(a, b uint64) int { return n[b] - n[a] })
		out := map[uint64]bool{}
		for _, k := range ks[:rows/100] {
			out[k] = true
		}
		return out
	}
	first, last := top(tr.Keys[:length/4]), top(tr.Keys[3*length/4:])
	var common int
	for k := range first {
		if last[k] {
			common++
		}
	}
	if common > rows/100*3/4 || common == 0 {
		t.Errorf("%d of the top %d rows shared by the first and last quarter: want drift, not a reshuffle", common, rows/100)
	}
}

func TestOLTPParams(t *testing.T) {
	bad := []func(*OLTP){
		func(o *OLTP) { o.Rows = 0 },
		func(o *OLTP) { o.HotShare = 0 },
		func(o *OLTP) { o.ScanShare = 1 },
		func(o *OLTP) { o.ScanShare, o.OneTimeShare = 0.6, 0.5 },
		func(o *OLTP) { o.ScanMin = 0 },
		func(o *OLTP) { o.ScanMax = o.ScanMin - 1 },
		func(o *OLTP) { o.DriftEvery = -1 },
		func(o *OLTP) { o.Skew = -1 },
	}
	for i, f := range bad {
		o := DefaultOLTP(100)
		f(&o)
		if _, err := o.Generate(10, 1); !errors.Is(err, ErrParam) {
			t.Errorf("case %d: %v, want ErrParam", i, err)
		}
	}
	if _, err := ZipfTrace(10, -1, 1, 1); !errors.Is(err, ErrParam) {
		t.Errorf("negative length: %v", err)
	}
}

func TestMixKeyDistinct(t *testing.T) {
	seen := map[uint64]bool{}
	for x := range uint64(100000) {
		k := mixKey(x)
		if k == 0 || seen[k] {
			t.Fatalf("mixKey(%d) = %x repeats or is 0", x, k)
		}
		seen[k] = true
	}
}
