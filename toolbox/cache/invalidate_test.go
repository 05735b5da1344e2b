package cache

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
)

func TestInvalidationEncoding(t *testing.T) {
	for _, inv := range []Invalidation{
		{Keys: []string{"a", "svc\x00\xff body"}},
		{Prefixes: []string{"p/"}},
		{All: true},
		{Keys: []string{""}, Prefixes: []string{"x", "y"}, All: true},
	} {
		b, err := encodeInvalidation(inv)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeInvalidation(b)
		if err != nil || !reflect.DeepEqual(got, inv) {
			t.Fatalf("round trip of %+v: %+v, %v", inv, got, err)
		}
	}
	if _, err := encodeInvalidation(Invalidation{}); !errors.Is(err, ErrBadOption) {
		t.Fatalf("empty invalidation: %v", err)
	}
	for name, b := range map[string][]byte{
		"empty":   nil,
		"flags":   {2, 0, 0, 0, 0},
		"nothing": {0, 0, 0, 0, 0},
		"count":   {0, 0xff, 0xff, 0xff, 0xff},
		"short":   {0, 0, 0, 0, 1, 1, 0, 0, 0, 5, 'a'},
		"kind":    {0, 0, 0, 0, 1, 3, 0, 0, 0, 0},
		"extra":   {1, 0, 0, 0, 0, 9},
	} {
		if _, err := decodeInvalidation(b); !errors.Is(err, errBadInvalidation) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzDecodeInvalidation(f *testing.F) {
	for _, inv := range []Invalidation{{Keys: []string{"a"}}, {Prefixes: []string{"p"}, All: true}} {
		b, _ := encodeInvalidation(inv)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		inv, err := decodeInvalidation(b)
		if err != nil {
			return
		}
		again, err := encodeInvalidation(inv)
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", inv, err)
		}
		if !bytes.Equal(again, b) {
			// keys come before prefixes when encoded; a message that
			// mixes the order decodes to the same invalidation
			if got, _ := decodeInvalidation(again); !reflect.DeepEqual(got, inv) {
				t.Fatalf("re-encoding changes %+v", inv)
			}
		}
	})
}

// TestListenerHostilePublisher: a publisher floods the invalidation
// topic with garbage and huge messages; the memo lives, counts them,
// and keeps serving, and real invalidations still apply.
func TestListenerHostilePublisher(t *testing.T) {
	e := newMenv(t, core.TCP)
	m := newMemo(t, MemoTTL(time.Hour))
	svc, cli := memoPair(t, e, m, false)
	if err := m.Attach(cli); err != nil {
		t.Fatal(err)
	}
	ctx := e.ctx(60 * time.Second)
	bad := e.peer("hostile")
	l := m.Listeners()[0]
	memoWait(t, 10*time.Second, "listener hears the hostile peer", func() bool {
		_ = bad.Publish(DefaultInvalidationTopic, []byte("garbage"))
		time.Sleep(10 * time.Millisecond)
		return l.Stats().Malformed > 0
	})
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	huge := make([]byte, 1<<20)
	huge[0] = 9
	for i := range 2000 {
		msg := []byte{0, 0, 0, 0, 1, 1, 0xff, 0xff, 0xff, 0xff} // claims a 4 GiB key
		if i%10 == 0 {
			msg = huge
		}
		_ = bad.Publish(DefaultInvalidationTopic, msg)
		if i%100 == 0 {
			call(t, ctx, cli, "a") // still served, from the cache
		}
	}
	memoWait(t, 20*time.Second, "flood consumed", func() bool { return l.sub.Stats().Queued == 0 })
	runtime.GC()
	runtime.ReadMemStats(&ms)
	if grown := int64(ms.HeapInuse) - int64(base); grown > 64<<20 {
		t.Fatalf("heap grew %d MiB under the flood", grown>>20)
	}
	if svc.runs.Load() > 2 { // a loss may have invalidated all, once
		t.Logf("lost messages invalidated everything %d times", l.Stats().Lost)
	}
	good := e.peer("writer")
	memoWait(t, 20*time.Second, "a real invalidation applies", func() bool {
		_ = PublishInvalidation(good, DefaultInvalidationTopic, Invalidation{Prefixes: []string{ServicePrefix("svc")}})
		time.Sleep(10 * time.Millisecond)
		return m.cache.Len() == 0
	})
	// Most of the flood may be dropped by the publisher's queue or the
	// subscription's; what arrived was counted and ignored.
	if st := l.Stats(); st.Malformed < 2 {
		t.Fatalf("listener stats %+v: the flood was not seen", st)
	}
	t.Logf("listener %+v, subscription %+v, publisher %+v", l.Stats(), l.sub.Stats(), bad.Stats().Topics)
}

// TestListenerLoss: when the listener's subscription drops messages,
// it cannot know which keys it missed, so it invalidates everything.
func TestListenerLoss(t *testing.T) {
	e := newMenv(t, core.TCP)
	c, err := New[string]()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	lp := e.peer("listener")
	l, err := Listen(lp, "inv", CacheInvalidator(c))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	pub := e.peer("pub")
	for _, topic := range []string{"inv", "inv2"} {
		if err := pub.Advertise(topic); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.WaitConnected(e.ctx(10*time.Second), 1); err != nil {
		t.Fatal(err)
	}
	must(t, c.Set("keep", "v", 0))
	must(t, c.Set("drop", "v", 0))
	if err := PublishInvalidation(pub, "inv", Invalidation{Keys: []string{"drop"}}); err != nil {
		t.Fatal(err)
	}
	memoWait(t, 10*time.Second, "key invalidated", func() bool { _, ok := c.Peek("drop"); return !ok })
	if _, ok := c.Peek("keep"); !ok {
		t.Fatal("another key dropped")
	}
	// Stop the listener's reader and overflow its queue.
	stopped := make(chan struct{}, 1) // buffered: the signal must not be lost if sent before the test waits
	block := make(chan struct{})
	blocker := blockingTarget{stopped: stopped, block: block}
	l2, err := Listen(lp, "inv2", blocker, CacheInvalidator(c))
	if err != nil {
		t.Fatal(err)
	}
	if err := l2.WaitConnected(e.ctx(10*time.Second), 1); err != nil {
		t.Fatal(err)
	}
	// Publish until the blocker holds the reader: the first message may
	// reach the publisher before the new subscription does.
	deadline := time.After(10 * time.Second)
publishing:
	for {
		if err := PublishInvalidation(pub, "inv2", Invalidation{Keys: []string{"nothing"}}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-stopped:
			break publishing
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatal("the blocking target never got an invalidation")
		}
	}
	for range 5000 {
		_ = PublishInvalidation(pub, "inv2", Invalidation{Keys: []string{"nothing"}})
	}
	memoWait(t, 10*time.Second, "subscription dropped messages", func() bool { return l2.sub.Stats().Dropped > 0 })
	close(block)
	memoWait(t, 10*time.Second, "loss invalidated everything", func() bool { return c.Len() == 0 && l2.Stats().Lost > 0 })
	l2.Close()
}

// blockingTarget blocks on its first invalidation until block closes.
type blockingTarget struct {
	stopped chan struct{}
	block   chan struct{}
}

func (b blockingTarget) wait() {
	select {
	case b.stopped <- struct{}{}:
	default:
	}
	<-b.block
}
func (b blockingTarget) Invalidate(...string)    { b.wait() }
func (b blockingTarget) InvalidatePrefix(string) { b.wait() }
func (b blockingTarget) InvalidateAll()          { b.wait() }

func TestMemoStatsInZmpStats(t *testing.T) {
	e := newMenv(t, core.TCP)
	m := newMemo(t, MemoName("users"), MemoInvalidations(""))
	_, cli := memoPair(t, e, m, false)
	if err := m.Attach(cli); err != nil {
		t.Fatal(err)
	}
	ctx := e.ctx(10 * time.Second)
	call(t, ctx, cli, "a")
	call(t, ctx, cli, "a")
	st, err := core.Call[core.Stats](ctx, cli, core.IntrospectStats, nil, core.OnNode("caller"))
	if err != nil {
		t.Fatal(err)
	}
	var ms MemoStats
	if err := json.Unmarshal(st.Extra["cache.memo.users"], &ms); err != nil || ms.MemoHits != 1 || ms.MemoMisses != 1 {
		t.Fatalf("zmp.stats extra: %s (%v)", st.Extra["cache.memo.users"], err)
	}
	if len(m.Listeners()) != 0 {
		t.Fatal("listening although MemoInvalidations(\"\")")
	}
	m.Close()
	if _, ok := cli.Stats().Extra["cache.memo.users"]; ok {
		t.Fatal("stats still reported after Close")
	}
	if got := call(t, ctx, cli, "a"); got != "2:a" {
		t.Fatalf("after Close a call goes to the service: %q", got)
	}
}

func TestMemoBoundsExact(t *testing.T) {
	e := newMenv(t, core.TCP)
	const max = 16 << 10
	m := newMemo(t, MemoBounds(1000, max))
	_, cli := memoPair(t, e, m, true)
	ctx := e.ctx(30 * time.Second)
	for i := range 300 {
		call(t, ctx, cli, string(bytes.Repeat([]byte{byte('a' + i%26)}, 100+i)))
		if b := m.Stats().Bytes; b > max {
			t.Fatalf("%d bytes, bound %d", b, max)
		}
	}
	if m.Stats().Evictions == 0 {
		t.Fatal("bound never reached")
	}
}

func TestListenerGap(t *testing.T) {
	last := map[string]uint64{}
	for i, s := range []struct {
		pub  string
		seq  uint64
		want bool
	}{
		{"a", 7, false}, // first seen: no gap
		{"a", 8, false},
		{"b", 1, false},
		{"a", 10, true}, // 9 lost
		{"a", 11, false},
		{"a", 1, true}, // restarted
		{"b", 2, false},
	} {
		if got := gap(last, core.Message{Publisher: s.pub, Seq: s.seq}); got != s.want {
			t.Errorf("step %d (%s %d): gap %v", i, s.pub, s.seq, got)
		}
	}
}
