package cache

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
)

// TestMemoCallerLeaves: on a provider's memo, the caller whose call
// started a fill disconnects, another times out while waiting; a third
// caller waiting for the same fill still gets its reply, and the
// handler is not cancelled while anyone waits.
func TestMemoCallerLeaves(t *testing.T) {
	e := newMenv(t, core.TCP)
	m := newMemo(t)
	svc, cli := memoPair(t, e, m, true)
	svc.gate = make(chan struct{})
	ctx := e.ctx(30 * time.Second)

	quitter := e.peer("quitter")
	go quitter.Call(ctx, "svc", []byte("k"))
	memoWait(t, 10*time.Second, "fill started", func() bool { return svc.runs.Load() == 1 })
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	done := make(chan string, 1)
	go func() { done <- call(t, ctx, cli, "k") }()
	memoWait(t, 10*time.Second, "second caller joined", func() bool { return m.Stats().Collapsed == 1 })
	if _, err := cli.Call(short, "svc", []byte("k")); !errors.Is(err, core.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("caller that timed out: %v", err)
	}
	quitter.Close() // the caller that started the fill goes away
	time.Sleep(100 * time.Millisecond)
	close(svc.gate)
	if got := <-done; got != "1:k" {
		t.Fatalf("remaining caller got %q", got)
	}
	if svc.runs.Load() != 1 {
		t.Fatalf("service ran %d times", svc.runs.Load())
	}
	if got := call(t, ctx, cli, "k"); got != "1:k" {
		t.Fatalf("reply not kept: %q", got)
	}
}

// TestMemoFloodDistinctKeys: one caller floods the provider's memo with
// distinct keys and large bodies; the memo's bytes stay within bound,
// and another caller's hits are still served.
func TestMemoFloodDistinctKeys(t *testing.T) {
	e := newMenv(t, core.TCP)
	const bound = 4 << 20
	m := newMemo(t, MemoBounds(100_000, bound))
	_, cli := memoPair(t, e, m, true)
	flooder := e.peer("flooder")
	ctx := e.ctx(60 * time.Second)
	call(t, ctx, cli, "hot")

	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	stop := make(chan struct{})
	var wg sync.WaitGroup
	body := make([]byte, 32<<10)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				b := append(strconv.AppendInt(nil, int64(w*1_000_000+i), 10), body...)
				flooder.Call(ctx, "svc", b)
			}
		}()
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		t0 := time.Now()
		if got := call(t, ctx, cli, "hot"); got != "1:hot" && m.Stats().Evictions == 0 {
			t.Fatalf("hot key: %q", got)
		}
		if d := time.Since(t0); d > 5*time.Second {
			t.Fatalf("a call took %v under the flood", d)
		}
		if b := m.Stats().Bytes; b > bound {
			t.Fatalf("memo holds %d bytes, bound %d", b, bound)
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	st := m.Stats()
	if st.Evictions == 0 {
		t.Fatalf("the flood never reached the bound: %+v", st)
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	if grown := int64(ms.HeapInuse) - int64(base); grown > 64<<20 {
		t.Fatalf("heap grew %d MiB", grown>>20)
	}
}
