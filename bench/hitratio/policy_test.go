package hitratio

import (
	"context"
	"errors"
	"strconv"
	"testing"
)

// TestContendersCapacity adds ten times a policy's capacity in distinct
// keys, each twice so that admission policies see them as seen before,
// then counts how many of them are still cached: at most the capacity,
// and at least some.
func TestContendersCapacity(t *testing.T) {
	const capacity = 100
	for _, c := range Contenders() {
		t.Run(c.Name, func(t *testing.T) {
			p := newPolicy(t, c, capacity)
			for k := range uint64(10 * capacity) {
				for range 2 {
					if !p.Get(mixKey(k)) {
						p.Add(mixKey(k))
					}
				}
			}
			var present int
			for k := range uint64(10 * capacity) {
				if p.Get(mixKey(k)) {
					present++
				}
			}
			t.Logf("%d of %d keys cached at capacity %d", present, 10*capacity, capacity)
			if present > capacity || present == 0 {
				t.Errorf("%d keys cached at capacity %d", present, capacity)
			}
		})
	}
}

// TestContendersCache replays a loop over half the capacity's keys:
// after the first pass every policy must hit nearly always.
func TestContendersCache(t *testing.T) {
	const capacity = 200
	var keys []uint64
	for range 50 {
		for k := range uint64(capacity / 2) {
			keys = append(keys, mixKey(k))
		}
	}
	for _, c := range Contenders() {
		t.Run(c.Name, func(t *testing.T) {
			counts, err := Run(context.Background(), keys, newPolicy(t, c, capacity))
			if err != nil {
				t.Fatal(err)
			}
			if r := counts.HitRatio(); r < 0.9 {
				t.Errorf("hit ratio %.3f on a loop that fits, want >= 0.9 (%+v)", r, counts)
			}
		})
	}
}

func TestContendersBadCapacity(t *testing.T) {
	for _, c := range Contenders() {
		if _, err := c.New(0); !errors.Is(err, ErrParam) {
			t.Errorf("%s capacity 0: %v, want ErrParam", c.Name, err)
		}
	}
}

func newPolicy(t *testing.T, c Contender, capacity int) Policy {
	t.Helper()
	p, err := c.New(capacity)
	if err != nil {
		t.Fatal(err)
	}
	if cl, ok := p.(interface{ Close() }); ok {
		t.Cleanup(cl.Close)
	}
	return p
}

// stringLRU is a string-keyed cache for TestStringKeys: an LRU from this
// package behind a key parser, so the outcome must equal NewLRU's.
type stringLRU struct {
	p      Policy
	closed *bool
}

func (s stringLRU) Get(k string) bool { return s.p.Get(parse36(k)) }
func (s stringLRU) Add(k string)      { s.p.Add(parse36(k)) }
func (s stringLRU) Close()            { *s.closed = true }

func parse36(k string) uint64 {
	n, err := strconv.ParseUint(k, 36, 64)
	if err != nil {
		panic(err)
	}
	return n
}

func TestStringKeys(t *testing.T) {
	tr, err := ZipfTrace(1000, 20000, 1, 5)
	if err != nil {
		t.Fatal(err)
	}
	inner, _ := NewLRU(50)
	var closed bool
	sp := StringKeys(stringLRU{p: inner, closed: &closed})
	got, _ := Run(context.Background(), tr.Keys, sp)
	direct, _ := NewLRU(50)
	want, _ := Run(context.Background(), tr.Keys, direct)
	if got != want {
		t.Errorf("through StringKeys %+v, direct %+v", got, want)
	}
	sp.(interface{ Close() }).Close()
	if !closed {
		t.Error("Close not passed on")
	}
}
