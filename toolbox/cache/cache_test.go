package cache

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
)

// check verifies a cache's bookkeeping: the bytes it counts are its
// entries' sizes, within the bound, and the policy holds every entry.
func check[V any](t testing.TB, c *Cache[V]) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var sum int64
	for k, e := range c.entries {
		sum += e.size
		if e.key != k {
			t.Fatalf("entry %q under key %q", e.key, k)
		}
	}
	if sum != c.bytes {
		t.Fatalf("counted %d bytes, entries hold %d", c.bytes, sum)
	}
	if c.bytes > c.maxBytes || len(c.entries) > c.maxEntries {
		t.Fatalf("%d entries, %d bytes: bounds %d, %d", len(c.entries), c.bytes, c.maxEntries, c.maxBytes)
	}
	if n := c.exp.Len(); n > len(c.entries) {
		t.Fatalf("%d entries in the expiry heap, %d in the cache", n, len(c.entries))
	}
}

func TestByteBoundExact(t *testing.T) {
	for _, p := range []Policy{LRU, TwoQueue, ARC} {
		t.Run(p.String(), func(t *testing.T) {
			const max = 64 << 10
			var evicted int64
			c, err := New[[]byte](WithPolicy(p), WithMaxBytes(max), WithMaxEntries(1_000_000),
				WithOnEvict(func(k string, v []byte, why Reason) { evicted++ }))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			r := rand.New(rand.NewPCG(1, 2))
			for i := range 20_000 {
				k := fmt.Sprint(r.IntN(3000))
				switch r.IntN(10) {
				case 0:
					c.Delete(k)
				case 1, 2, 3:
					c.Get(k)
				default:
					v := make([]byte, r.IntN(4096))
					if err := c.Set(k, v, 0); err != nil {
						t.Fatal(err)
					}
				}
				if c.Bytes() > max {
					t.Fatalf("op %d: %d bytes, bound %d", i, c.Bytes(), max)
				}
				if i%997 == 0 {
					check(t, c)
				}
			}
			check(t, c)
			st := c.Stats()
			if st.Evictions == 0 || evicted == 0 {
				t.Fatalf("no evictions: the test does not reach the bound: %+v", st)
			}
			if err := c.Set("big", make([]byte, max), 0); !errors.Is(err, ErrTooLarge) {
				t.Fatalf("an entry above the bound: %v, want ErrTooLarge", err)
			}
			// The largest entry that fits is stored, alone.
			fits := make([]byte, max-EntryOverhead-len("fits"))
			if err := c.Set("fits", fits, 0); err != nil {
				t.Fatal(err)
			}
			if c.Len() != 1 || c.Bytes() != max {
				t.Fatalf("after the largest entry: %d entries, %d bytes", c.Len(), c.Bytes())
			}
		})
	}
}

func TestTTLExpiry(t *testing.T) {
	type ev struct {
		key string
		why Reason
	}
	evs := make(chan ev, 10)
	c, err := New[string](WithTTL(time.Hour), WithOnEvict(func(k, v string, why Reason) { evs <- ev{k, why} }))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	must(t, c.Set("short", "a", 30*time.Millisecond))
	must(t, c.Set("default", "b", 0))
	must(t, c.Set("forever", "c", NoExpiry))
	it, ok := c.Lookup("default")
	if !ok || it.Expires.Sub(it.Stored) != time.Hour {
		t.Fatalf("default TTL: %+v %v", it, ok)
	}
	if it, _ := c.Lookup("forever"); !it.Expires.IsZero() {
		t.Fatalf("NoExpiry expires at %v", it.Expires)
	}
	// The callback reports the expiry without any Get.
	select {
	case e := <-evs:
		if e != (ev{"short", Expired}) {
			t.Fatalf("event %+v", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no expiry reported")
	}
	if _, ok := c.Get("short"); ok {
		t.Fatal("expired entry still served")
	}
	if st := c.Stats(); st.Expirations != 1 || st.Entries != 2 {
		t.Fatalf("stats %+v", st)
	}
	c.Delete("default")
	if e := <-evs; e != (ev{"default", Deleted}) {
		t.Fatalf("event %+v", e)
	}
	// Replacing a value is not an eviction, and resets the TTL.
	must(t, c.Set("forever", "d", time.Hour))
	must(t, c.Set("forever", "e", NoExpiry))
	if it, ok := c.Lookup("forever"); !ok || it.Value != "e" || !it.Expires.IsZero() {
		t.Fatalf("forever = %+v, %v", it, ok)
	}
	c.mu.Lock()
	inHeap := c.exp.Len()
	c.mu.Unlock()
	if inHeap != 0 {
		t.Fatalf("%d entries wait to expire, want none", inHeap)
	}
	select {
	case e := <-evs:
		t.Fatalf("unexpected event %+v", e)
	default:
	}
}

// TestTTLClock expires by a fake clock: Get sees a clock that ran ahead
// at once, without waiting for the expiry goroutine.
func TestTTLClock(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	c, err := New[int](WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	must(t, c.Set("k", 1, time.Minute))
	mu.Lock()
	now = now.Add(59 * time.Second)
	mu.Unlock()
	if _, ok := c.Get("k"); !ok {
		t.Fatal("expired early")
	}
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	if _, ok := c.Get("k"); ok {
		t.Fatal("served at its expiry")
	}
	if st := c.Stats(); st.Expirations != 1 || st.Hits != 1 || st.Misses != 1 || st.Entries != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestMassExpiry(t *testing.T) {
	var mu sync.Mutex
	n := 0
	c, err := New[int](WithMaxEntries(10_000), WithOnEvict(func(string, int, Reason) { mu.Lock(); n++; mu.Unlock() }))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 5000 {
		must(t, c.Set(fmt.Sprint(i), i, time.Duration(1+i%20)*time.Millisecond))
	}
	deadline := time.Now().Add(10 * time.Second)
	for c.Len() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if c.Len() != 0 || n != 5000 {
		t.Fatalf("%d left, %d expiries reported", c.Len(), n)
	}
	check(t, c)
}

func TestResizeAndPrefix(t *testing.T) {
	c, err := New[[]byte](WithMaxEntries(100))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 100 {
		must(t, c.Set(fmt.Sprintf("a/%d", i), make([]byte, 100), 0))
	}
	must(t, c.Resize(10, 0))
	if c.Len() != 10 || c.Stats().Evictions != 90 || c.Stats().MaxEntries != 10 {
		t.Fatalf("after resize: %+v", c.Stats())
	}
	per := c.Bytes() / 10
	must(t, c.Resize(0, 3*per))
	if c.Len() != 3 {
		t.Fatalf("after the byte resize: %d entries", c.Len())
	}
	check(t, c)
	must(t, c.Set("b/1", nil, 0))
	if n := c.DeletePrefix("a/"); n != 2 || c.Len() != 1 {
		t.Fatalf("DeletePrefix removed %d, %d left", n, c.Len())
	}
	if err := c.Resize(-1, 0); !errors.Is(err, ErrBadOption) {
		t.Fatalf("negative resize: %v", err)
	}
	if k := c.Keys(); len(k) != 1 || k[0] != "b/1" {
		t.Fatalf("keys %v", k)
	}
	c.Purge()
	if c.Len() != 0 {
		t.Fatal("purge left entries")
	}
}

func TestOptionsRefused(t *testing.T) {
	for name, opt := range map[string]Option{
		"entries":    WithMaxEntries(0),
		"bytes":      WithMaxBytes(-1),
		"policy":     WithPolicy(Policy(9)),
		"ttl":        WithTTL(0),
		"nil evict":  WithOnEvict[int](nil),
		"evict type": WithOnEvict(func(string, string, Reason) {}),
		"sizer type": WithSizer(func(string) int { return 0 }),
		"nil clock":  WithClock(nil),
	} {
		if _, err := New[int](opt); !errors.Is(err, ErrBadOption) {
			t.Errorf("%s: %v, want ErrBadOption", name, err)
		}
	}
}

func TestClose(t *testing.T) {
	c, err := New[int]()
	if err != nil {
		t.Fatal(err)
	}
	must(t, c.Set("k", 1, time.Hour))
	must(t, c.Close())
	must(t, c.Close())
	if err := c.Set("j", 1, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Set after Close: %v", err)
	}
	if v, ok := c.Get("k"); !ok || v != 1 {
		t.Fatal("entries not readable after Close")
	}
}

func TestSizer(t *testing.T) {
	c, err := New[[]string](WithMaxBytes(1000), WithSizer(func(v []string) int { return len(strings.Join(v, "")) }))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	must(t, c.Set("k", []string{"ab", "cd"}, 0))
	if b := c.Bytes(); b != int64(1+4+EntryOverhead) {
		t.Fatalf("%d bytes", b)
	}
}

// TestConcurrent hammers a small cache from many goroutines with every
// operation; -race and the bookkeeping check are the assertions.
func TestConcurrent(t *testing.T) {
	for _, p := range []Policy{LRU, TwoQueue, ARC} {
		c, err := New[[]byte](WithPolicy(p), WithMaxEntries(200), WithMaxBytes(50_000), WithOnEvict(func(k string, v []byte, why Reason) {}))
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(g), 0))
				for range 5000 {
					k := fmt.Sprint(r.IntN(500))
					switch r.IntN(8) {
					case 0:
						c.Delete(k)
					case 1:
						_ = c.Set(k, make([]byte, r.IntN(300)), time.Duration(r.IntN(3))*time.Millisecond)
					case 2:
						c.Stats()
					case 3:
						_ = c.Resize(100+r.IntN(200), 0)
					default:
						if _, ok := c.Get(k); !ok {
							_ = c.Set(k, make([]byte, r.IntN(300)), 0)
						}
					}
				}
			}()
		}
		wg.Wait()
		check(t, c)
		c.Close()
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
