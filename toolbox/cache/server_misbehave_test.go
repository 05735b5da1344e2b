package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
)

// Requests that do not decode are answered CodeBadRequest, and the
// server goes on serving.
func TestServerMalformedRequests(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *senv) {
		s, _ := e.server()
		c := e.client("client")
		ctx := testCtx(t, 20*time.Second)
		good := appendSetRequest(nil, opRequest{key: "k", value: []byte("v")}, false)
		cases := []struct {
			service, name string
			body          []byte
		}{
			{"get", "empty", nil},
			{"get", "zero key length", []byte{0, 0}},
			{"get", "short key", []byte{0, 5, 'a'}},
			{"get", "trailing", append(appendKeyRequest(nil, "k"), 0)},
			{"del", "empty", nil},
			{"del", "key too long", append([]byte{0xff, 0xff}, bytes.Repeat([]byte("k"), 0xffff)...)},
			{"set", "cut", good[:len(good)-1]},
			{"set", "trailing", append(good, 1)},
			{"set", "ttl over a century", appendSetRequest(nil, opRequest{key: "k", ttl: 2 * maxWireTTL}, false)[:5]},
			{"set", "value length past the end", []byte{0, 1, 'k', 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}},
			{"cas", "a set request", good},
			{"cas", "garbage", []byte("hello, world")},
		}
		for _, tt := range cases {
			_, err := c.p.Call(ctx, "cache."+tt.service, tt.body)
			var re *core.RemoteError
			if !errors.As(err, &re) || re.Code != core.CodeBadRequest {
				t.Errorf("%s %s: %v, want CodeBadRequest", tt.service, tt.name, err)
			}
		}
		if _, err := c.Set(ctx, "k", []byte("v"), 0); err != nil {
			t.Fatalf("set after malformed requests: %v", err)
		}
		if st := s.Stats(); st.BadRequests != uint64(len(cases)) || st.Seq != 1 {
			t.Fatalf("stats %+v, want %d bad requests and one write", st, len(cases))
		}
	})
}

func TestServerRefusesOversizedValues(t *testing.T) {
	e := newSenv(t, core.TCP)
	s, _ := e.server(WithServerMaxValueSize(1000), WithServerMaxBytes(600))
	c := e.client("client")
	ctx := testCtx(t, 20*time.Second)
	for _, n := range []int{1001, 700} { // above the value bound; above the byte bound
		_, err := c.Set(ctx, "k", make([]byte, n), 0)
		var re *core.RemoteError
		if !errors.Is(err, ErrTooLarge) || !errors.As(err, &re) || re.Code != CodeValueTooLarge {
			t.Errorf("set of %d bytes: %v, want ErrTooLarge with CodeValueTooLarge", n, err)
		}
		if _, err := c.CompareAndSet(ctx, "k", 0, make([]byte, n), 0); !errors.Is(err, ErrTooLarge) {
			t.Errorf("cas of %d bytes: %v", n, err)
		}
	}
	if _, err := c.Set(ctx, "k", make([]byte, 100), 0); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.TooLarge != 4 || st.Seq != 1 || st.Entries != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// One client flooding the server with sets does not starve another.
func TestServerFloodDoesNotStarveOthers(t *testing.T) {
	e := newSenv(t, core.TCP)
	e.server()
	flooder := e.client("flooder")
	other := e.client("other")
	ctx := testCtx(t, 60*time.Second)
	if _, err := other.Set(ctx, "mine", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var floods, refused atomic.Uint64
	val := make([]byte, 1024)
	for g := range 32 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				_, err := flooder.Set(ctx, fmt.Sprintf("f%d-%d", g, i%100), val, 0)
				switch {
				case err == nil:
					floods.Add(1)
				case errors.Is(err, core.ErrOverloaded):
					refused.Add(1)
				default:
					t.Errorf("flooder: %v", err)
					return
				}
			}
		})
	}
	stopFlood := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopFlood()
	waitFor(t, 20*time.Second, "the flood to start", func() bool { return floods.Load() > 200 })
	// The other client is served, each get within its 5 s deadline,
	// while the flood goes on: at least 30 gets over at least half a
	// second, and until the flooder has had 200 more sets answered.
	before, t0 := floods.Load(), time.Now()
	var worst time.Duration
	gets := 0
	deadline := time.Now().Add(30 * time.Second)
	for ; gets < 30 || time.Since(t0) < 500*time.Millisecond || floods.Load()-before < 200; gets++ {
		if time.Now().After(deadline) {
			t.Fatalf("after %d gets the flood made %d sets: it stalled", gets, floods.Load()-before)
		}
		start := time.Now()
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		v, _, err := other.Get(cctx, "mine")
		cancel()
		if err != nil || string(v) != "v" {
			t.Fatalf("the other client during the flood: %q %v", v, err)
		}
		worst = max(worst, time.Since(start))
	}
	stopFlood()
	t.Logf("flood: %d sets, %d refused; the other client made %d gets meanwhile, the slowest in %v", floods.Load(), refused.Load(), gets, worst)
}

// A downloader that opens a snapshot and never reads delays neither the
// writes nor the other downloaders: the snapshot is copied under the
// lock and streamed after.
func TestServerSnapshotReaderThatNeverReads(t *testing.T) {
	e := newSenv(t, core.TCP)
	s, _ := e.server()
	c := e.client("client")
	ctx := testCtx(t, 60*time.Second)
	big := bytes.Repeat([]byte("x"), 900<<10)
	for i := range 8 { // 7 MB: more than the stream's window of 4 × 1 MiB
		if _, err := c.Set(ctx, fmt.Sprint("big", i), big, 0); err != nil {
			t.Fatal(err)
		}
	}
	stalled, err := e.peer("stalled").Download(ctx, "cache.snapshot", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	waitFor(t, 10*time.Second, "the stalled snapshot to begin", func() bool { return s.Stats().Snapshots == 1 })
	for i := range 20 {
		start := time.Now()
		if _, err := c.Set(ctx, "k", []byte(strconv.Itoa(i)), 0); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("a set took %v while a snapshot was stalled", d)
		}
	}
	h, recs := download(t, c.p, "cache")
	if h.seq != 28 || len(recs) != 9 || string(recs["k"].value) != "19" {
		t.Fatalf("second snapshot: %+v, %d records", h, len(recs))
	}
	// The stalled reader still gets the state of its instant.
	sr, h1, err := newSnapReader(stalled, 1<<20)
	if err != nil || h1.seq != 8 || h1.count != 8 {
		t.Fatalf("stalled snapshot: %+v %v", h1, err)
	}
	if r, err := sr.next(); err != nil || len(r.value) != len(big) {
		t.Fatalf("stalled snapshot's first record: %d bytes, %v", len(r.value), err)
	}
}

// Concurrent read-CAS-retry increments from several clients lose no
// update.
func TestServerConcurrentCASIncrements(t *testing.T) {
	e := newSenv(t, core.TCP)
	s, _ := e.server()
	const clients, each = 4, 25
	cs := make([]*Client, clients)
	for i := range cs {
		cs[i] = e.client(fmt.Sprint("inc", i))
	}
	ctx := testCtx(t, 60*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for _, c := range cs {
		wg.Go(func() {
			for range each {
				if err := increment(ctx, c, "counter"); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	v, _, err := cs[0].Get(ctx, "counter")
	if err != nil || string(v) != strconv.Itoa(clients*each) {
		t.Fatalf("counter %q %v, want %d", v, err, clients*each)
	}
	st := s.Stats()
	if st.CASOK != clients*each {
		t.Fatalf("stats %+v", st)
	}
	t.Logf("%d increments, %d conflicts retried", st.CASOK, st.CASConflicts)
}

// increment adds one to the decimal counter under key with CAS.
func increment(ctx context.Context, c *Client, key string) error {
	for {
		v, ver, err := c.Get(ctx, key)
		n := 0
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return err
		default:
			if n, err = strconv.Atoi(string(v)); err != nil {
				return err
			}
		}
		_, err = c.CompareAndSet(ctx, key, ver, []byte(strconv.Itoa(n+1)), 0)
		if !errors.Is(err, ErrVersionMismatch) {
			return err
		}
	}
}
