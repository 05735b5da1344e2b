package cache

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestCollapseThousand: 1000 concurrent cold calls for one key run the
// backend once, and every caller gets its value.
func TestCollapseThousand(t *testing.T) {
	var g group[int]
	var runs atomic.Int32
	gate := make(chan struct{})
	fill := func(context.Context) (int, error) {
		runs.Add(1)
		<-gate
		return 42, nil
	}
	const n = 1000
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err, _ := g.do(context.Background(), "k", fill, nil, nil)
			if err != nil || v != 42 {
				errs <- fmt.Errorf("got %d, %v", v, err)
			}
		}()
	}
	memoWait(t, 10*time.Second, "all callers waiting", func() bool { return g.collapsed.Load() == n-1 })
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if r := runs.Load(); r != 1 || g.fills.Load() != 1 {
		t.Fatalf("backend ran %d times, fills %d", r, g.fills.Load())
	}
}

// TestCollapseCancel: callers that cancel get their own error at once,
// never the others'; the backend keeps running while anyone waits, and
// is cancelled when the last caller leaves.
func TestCollapseCancel(t *testing.T) {
	var g group[string]
	started := make(chan context.Context, 1)
	release := make(chan struct{})
	fill := func(ctx context.Context) (string, error) {
		started <- ctx
		select {
		case <-release:
			return "v", nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	type res struct {
		v   string
		err error
	}
	call := func(ctx context.Context) chan res {
		ch := make(chan res, 1)
		go func() {
			v, err, _ := g.do(ctx, "k", fill, nil, nil)
			ch <- res{v, err}
		}()
		return ch
	}
	ctx1, cancel1 := context.WithCancel(context.Background())
	first := call(ctx1)
	fctx := <-started
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Hour)
	defer cancel2()
	second := call(ctx2)
	memoWait(t, 5*time.Second, "second caller joined", func() bool { return g.collapsed.Load() == 1 })

	cancel1() // the caller that started the fill leaves
	if r := <-first; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("cancelled caller: %+v", r)
	}
	select {
	case <-fctx.Done():
		t.Fatal("backend cancelled while a caller still waits")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if r := <-second; r.err != nil || r.v != "v" {
		t.Fatalf("remaining caller: %+v", r)
	}

	// When every caller leaves, the backend is cancelled, and the next
	// caller starts a new fill rather than join the cancelled one.
	release2 := make(chan struct{})
	fill2 := func(ctx context.Context) (string, error) {
		started <- ctx
		select {
		case <-release2:
			return "w", nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	ctx3, cancel3 := context.WithCancel(context.Background())
	go g.do(ctx3, "k2", fill2, nil, nil)
	f2 := <-started
	cancel3()
	select {
	case <-f2.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("backend not cancelled after the last caller left")
	}
	close(release2)
	v, err, shared := g.do(context.Background(), "k2", fill2, nil, nil)
	if err != nil || v != "w" || shared {
		t.Fatalf("after the abandoned fill: %q, %v, shared %v", v, err, shared)
	}
	<-started
	g.cancelAll()
}

// TestCollapseKeepsValues: the backend's context carries the first
// caller's values but not its deadline.
func TestCollapseKeepsValues(t *testing.T) {
	type key struct{}
	var g group[bool]
	ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), key{}, "trace"), time.Hour)
	defer cancel()
	ok, err, _ := g.do(ctx, "k", func(fctx context.Context) (bool, error) {
		_, has := fctx.Deadline()
		return fctx.Value(key{}) == "trace" && !has, nil
	}, nil, nil)
	if err != nil || !ok {
		t.Fatal("the fill's context lost the caller's values, or kept its deadline")
	}
}

// TestGroupProperty drives random callers against the group and checks
// singleflight's contract: without invalidations or cancellations,
// fills of one key never overlap; with them, a caller that is not
// cancelled gets the result of a fill that started while it waited, a
// cancelled caller its context's error, and nothing is left behind.
func TestGroupProperty(t *testing.T) {
	for _, chaos := range []bool{false, true} {
		t.Run(fmt.Sprint("chaos=", chaos), func(t *testing.T) { groupProperty(t, chaos) })
	}
}

func groupProperty(t *testing.T, chaos bool) {
	var g group[int]
	var running [4]atomic.Int32
	var seq atomic.Int64
	fill := func(k int) fillFunc[int] {
		return func(ctx context.Context) (int, error) {
			if running[k].Add(1) > 1 && !chaos {
				t.Errorf("two fills of key %d at once", k)
			}
			defer running[k].Add(-1)
			v := int(seq.Add(1))
			select {
			case <-time.After(time.Duration(rand.IntN(3)) * time.Millisecond):
				return v, nil
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
	}
	var wg sync.WaitGroup
	var calls atomic.Int64
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for range 300 {
				k := r.IntN(4)
				if chaos && r.IntN(20) == 0 {
					g.invalidate([]string{fmt.Sprint(k)}, nil, false)
					continue
				}
				ctx, cancel := context.WithCancel(context.Background())
				if chaos && r.IntN(4) == 0 {
					time.AfterFunc(time.Duration(r.IntN(2000))*time.Microsecond, cancel)
				}
				before := seq.Load()
				calls.Add(1)
				v, err, _ := g.do(ctx, fmt.Sprint(k), fill(k), nil, nil)
				switch {
				case err != nil && ctx.Err() == nil:
					t.Errorf("not cancelled, got %v", err)
				case err != nil && !errors.Is(err, context.Canceled):
					t.Errorf("cancelled caller got %v", err)
				case err == nil && (int64(v) > seq.Load() || v == 0):
					t.Errorf("value %d from no fill (seq %d, %d before)", v, seq.Load(), before)
				}
				cancel()
			}
		}()
	}
	wg.Wait()
	g.cancelAll()
	if !chaos && g.fills.Load()+g.collapsed.Load() != uint64(calls.Load()) {
		t.Errorf("%d fills and %d collapsed for %d calls", g.fills.Load(), g.collapsed.Load(), calls.Load())
	}
	if !chaos && g.collapsed.Load() == 0 {
		t.Error("nothing collapsed: the test does not exercise the group")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.flights)+len(g.solo) != 0 {
		t.Fatalf("%d fills left", len(g.flights)+len(g.solo))
	}
}

func memoWait(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(time.Millisecond)
	}
}
