package feedback

import (
	"context"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/toolbox/cache"
)

// hrZipfKeys draws keys "k<n>" over a working set of keys with Zipf
// skew 1.1, from a seeded generator.
type hrZipfKeys struct {
	r    *rand.Rand
	zipf *rand.Zipf
}

func newHrZipfKeys(seed uint64, keys uint64) *hrZipfKeys {
	z := &hrZipfKeys{r: rand.New(rand.NewPCG(seed, 0))}
	z.setKeys(keys)
	return z
}

func (z *hrZipfKeys) setKeys(keys uint64) { z.zipf = rand.NewZipf(z.r, 1.1, 1, keys-1) }
func (z *hrZipfKeys) next() string        { return "k" + strconv.FormatUint(z.zipf.Uint64(), 10) }

// hrReadThrough looks key up in c, filling it on a miss, as an
// application reading through its cache does.
func hrReadThrough(t *testing.T, c *cache.Cache[int], key string) {
	if _, ok := c.Get(key); !ok {
		if err := c.Set(key, 1, 0); err != nil {
			t.Fatal(err)
		}
	}
}

func hrNewCache(t *testing.T, entries int) *cache.Cache[int] {
	t.Helper()
	c, err := cache.New[int](cache.WithMaxEntries(entries))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// A toolbox/cache Cache read through by a Zipf key stream, its loop
// stepped every 10,000 lookups: it grows from 256 entries to hold 80 %,
// and grows again when the working set doubles.
func TestHitRateRealCacheConverges(t *testing.T) {
	c := hrNewCache(t, 256)
	l, err := NewHitRateLoop(0.8, ResizableCache(c))
	if err != nil {
		t.Fatal(err)
	}
	keys := newHrZipfKeys(11, 10_000)
	run := func(windows int) (mean float64, size int) {
		var rates []float64
		for range windows {
			for range 10_000 {
				hrReadThrough(t, c, keys.next())
			}
			l.Step(time.Second)
			rates = append(rates, l.Last().HitRate)
		}
		return hrMean(rates[windows-10:]), c.Stats().MaxEntries
	}
	h1, s1 := run(30)
	keys.setKeys(20_000)
	h2, s2 := run(30)
	t.Logf("10,000 keys: %.2f %% at %d entries; 20,000 keys: %.2f %% at %d entries; loop %+v", 100*h1, s1, 100*h2, s2, l.Stats())
	for _, h := range []float64{h1, h2} {
		if math.Abs(h-0.8) > 0.02 {
			t.Errorf("mean hit rate over the last 10 windows %.2f %%, want 80 ± 2", 100*h)
		}
	}
	if s1 <= 256 || float64(s2) < 1.3*float64(s1) {
		t.Errorf("sizes %d then %d: want growth from 256, then by 30 %% or more", s1, s2)
	}
}

// The same on real time: a Runner steps the loop every 20 ms while the
// test reads through the cache; Close stops it (goleak checks it left
// nothing behind). The loop's windows vary in length and lookups, so
// the check is looser: once it has had time, a long burst of reads at
// the size it chose hits within 3 points of the target.
func TestHitRateRealCacheWithRunner(t *testing.T) {
	c := hrNewCache(t, 256)
	l, err := NewHitRateLoop(0.8, ResizableCache(c))
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRunner(l, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	keys := newHrZipfKeys(12, 10_000)
	deadline := time.Now().Add(30 * time.Second)
	for l.Stats().Windows-l.Stats().Idle < 60 && time.Now().Before(deadline) {
		for range 1000 {
			hrReadThrough(t, c, keys.next())
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	s := l.Stats()
	if s.Windows-s.Idle < 60 {
		t.Fatalf("only %d acting windows in 30 s: %+v", s.Windows-s.Idle, s)
	}
	before := c.Stats()
	for range 100_000 {
		hrReadThrough(t, c, keys.next())
	}
	after := c.Stats()
	hits, misses := after.Hits-before.Hits, after.Misses-before.Misses
	h := float64(hits) / float64(hits+misses)
	t.Logf("after %d windows: size %d, hit rate %.2f %%; loop %+v", s.Windows, after.MaxEntries, 100*h, s)
	if math.Abs(h-0.8) > 0.03 {
		t.Fatalf("hit rate %.2f %% at the size the loop chose (%d), want 80 ± 3", 100*h, after.MaxEntries)
	}
}

// The memo and server adapters read the right counters and set the
// entry bound.
func TestHitRateMemoAndServerAdapters(t *testing.T) {
	m, err := cache.NewMemo(cache.MemoBounds(100, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	call := m.Client()
	next := func(context.Context, *core.CallInfo) ([]byte, error) { return []byte("v"), nil }
	for _, k := range []string{"a", "a", "b", "a"} {
		if _, err := call(ctx, &core.CallInfo{Service: "svc", Body: []byte(k), Idempotent: true}, next); err != nil {
			t.Fatal(err)
		}
	}
	rm := ResizableMemo(m)
	if n := rm.HitStats(); n.Hits != 2 || n.Misses != 2 || n.Capacity != 100 || n.Entries != 2 {
		t.Fatalf("memo counts %+v, want 2 hits, 2 misses, 2 of 100 entries", n)
	}
	if err := rm.Resize(40); err != nil || rm.HitStats().Capacity != 40 {
		t.Fatalf("memo resize: %v, %+v", err, rm.HitStats())
	}

	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	reg := core.NewMemRegistry()
	node, err := core.NewPeer(ctx, "hitrate-cache", core.WithRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	srv, err := cache.NewServer(node, "hr")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	app, err := core.NewPeer(ctx, "hitrate-app", core.WithRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	cl, err := cache.NewClient(app, "hr")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := cl.Get(ctx, "x"); err == nil {
		t.Fatal("get of a missing key succeeded")
	}
	for i := range 5 {
		if _, err := cl.Set(ctx, "x"+strconv.Itoa(i), []byte("1"), 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := cl.Get(ctx, "x1"); err != nil {
		t.Fatal(err)
	}
	rs := ResizableServer(srv)
	if n := rs.HitStats(); n.Hits != 1 || n.Misses != 1 || n.Entries != 5 {
		t.Fatalf("server counts %+v, want 1 hit, 1 miss, 5 entries", n)
	}
	if err := rs.Resize(3); err != nil {
		t.Fatal(err)
	}
	if n := rs.HitStats(); n.Capacity != 3 || n.Entries != 3 {
		t.Fatalf("server after Resize(3): %+v", n)
	}
}
