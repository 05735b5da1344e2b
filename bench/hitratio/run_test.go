package hitratio

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// setPolicy is an unbounded cache: every key after its first request hits.
type setPolicy map[uint64]bool

func (s setPolicy) Get(k uint64) bool { return s[k] }
func (s setPolicy) Add(k uint64)      { s[k] = true }

func TestRunCounts(t *testing.T) {
	keys := []uint64{1, 2, 1, 3, 2, 1, 4}
	c, err := Run(context.Background(), keys, setPolicy{})
	if err != nil {
		t.Fatal(err)
	}
	if c != (Counts{Requests: 7, Hits: 3, Misses: 4}) {
		t.Errorf("counts %+v", c)
	}
	if r := c.HitRatio(); r != 3.0/7 {
		t.Errorf("hit ratio %v", r)
	}
	if (Counts{}).HitRatio() != 0 {
		t.Error("empty hit ratio not 0")
	}
}

// TestRunLRUByHand replays a trace whose LRU outcome at capacity 2 is
// worked out by hand:
//
//	1 miss {1}; 2 miss {1,2}; 1 hit {2,1}; 3 miss, evicts 2 {1,3};
//	1 hit {3,1}; 2 miss, evicts 3 {1,2}; 3 miss, evicts 1 {2,3}; 2 hit.
func TestRunLRUByHand(t *testing.T) {
	p, err := NewLRU(2)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Run(context.Background(), []uint64{1, 2, 1, 3, 1, 2, 3, 2}, p)
	if err != nil {
		t.Fatal(err)
	}
	if c != (Counts{Requests: 8, Hits: 3, Misses: 5}) {
		t.Errorf("counts %+v, want 3 hits, 5 misses", c)
	}
}

func TestRunContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, make([]uint64, 10), setPolicy{}); !errors.Is(err, context.Canceled) {
		t.Errorf("err %v", err)
	}
}

func TestGaps(t *testing.T) {
	rs := []Result{
		{Policy: "lru", Family: FamilyGolangLRU, HitRatio: 0.40},
		{Policy: "arc", Family: FamilyGolangLRU, HitRatio: 0.45},
		{Policy: "otter", Family: FamilyTinyLFU, HitRatio: 0.48},
		{Policy: "ristretto", Family: FamilyTinyLFU, HitRatio: 0.46},
		{Policy: "tb-arc", Family: FamilyToolbox, HitRatio: 0.50},
	}
	g := Gaps(rs)
	if len(g) != 2 {
		t.Fatalf("gaps %+v", g)
	}
	if g[0].Family != FamilyGolangLRU || g[0].Best != "arc" || g[0].Reference != "otter" ||
		fmt.Sprintf("%.2f", g[0].Points) != "3.00" || g[0].Within {
		t.Errorf("golang-lru gap %+v", g[0])
	}
	if g[1].Family != FamilyToolbox || fmt.Sprintf("%.2f", g[1].Points) != "-2.00" || !g[1].Within {
		t.Errorf("toolbox gap %+v", g[1])
	}
	if Gaps(rs[:2]) != nil {
		t.Error("gap without a W-TinyLFU result")
	}
}
