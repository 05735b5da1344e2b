package cache

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
)

func TestServerUpdateStream(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *senv) {
		s, _ := e.server(WithServerHeartbeat(20 * time.Millisecond))
		c := e.client("client")
		sub := updates(t, c.p, "cache")
		ctx := testCtx(t, 20*time.Second)
		c.Set(ctx, "a", []byte("1"), time.Minute)
		c.Set(ctx, "b", []byte("2"), 0)
		c.Delete(ctx, "a")
		c.Delete(ctx, "missing") // not a write: no update
		c.CompareAndSet(ctx, "b", 2, []byte("3"), 0)
		c.CompareAndSet(ctx, "b", 2, []byte("x"), 0) // a conflict: no update
		want := []update{
			{kind: kindSet, seq: 1, key: "a", value: []byte("1"), ttl: time.Minute},
			{kind: kindSet, seq: 2, key: "b", value: []byte("2")},
			{kind: kindDelete, seq: 3, key: "a", reason: Deleted},
			{kind: kindSet, seq: 4, key: "b", value: []byte("3")},
		}
		for _, w := range want {
			u := nextUpdate(t, sub)
			w.epoch = s.Epoch()
			if fmt.Sprint(u) != fmt.Sprint(w) {
				t.Fatalf("update %+v, want %+v", u, w)
			}
		}
		// Heartbeats carry the last seq and the interval.
		for {
			m, err := sub.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			u, err := decodeUpdate(m.Data)
			if err != nil {
				t.Fatal(err)
			}
			if u.kind == kindHeartbeat {
				if u.seq != 4 || u.epoch != s.Epoch() || u.interval != 20*time.Millisecond {
					t.Fatalf("heartbeat %+v", u)
				}
				break
			}
			t.Fatalf("unexpected update %+v", u)
		}
	})
}

func TestServerExpiryIsPublished(t *testing.T) {
	e := newSenv(t, core.TCP)
	s, _ := e.server()
	c := e.client("client")
	sub := updates(t, c.p, "cache")
	ctx := testCtx(t, 20*time.Second)
	if _, err := c.Set(ctx, "eph", []byte("v"), 30*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if u := nextUpdate(t, sub); u.kind != kindSet || u.ttl != 30*time.Millisecond {
		t.Fatalf("set update %+v", u)
	}
	// No get: the server's expiry publishes it by itself.
	u := nextUpdate(t, sub)
	if u.kind != kindDelete || u.key != "eph" || u.reason != Expired || u.seq != 2 {
		t.Fatalf("expiry update %+v", u)
	}
	if st := s.Stats(); st.Expirations != 1 || st.Seq != 2 || st.Entries != 0 {
		t.Fatalf("stats %+v", st)
	}
	// A key expired and set again before the expiry is published keeps
	// its new value: the replica's state must equal the server's.
	for i := range 20 {
		c.Set(ctx, "flap", []byte{byte(i)}, time.Millisecond)
	}
	c.Set(ctx, "flap", []byte("last"), 0)
	h, recs := download(t, c.p, "cache")
	state := map[string][]byte{}
	for {
		u := nextUpdate(t, sub)
		applyUpdate(state, u)
		if u.seq == h.seq {
			break
		}
	}
	if string(state["flap"]) != "last" || len(recs) != 1 || string(recs["flap"].value) != "last" {
		t.Fatalf("after flapping: replica %q, snapshot %+v", state, recs)
	}
}

// applyUpdate applies a set or delete to a map, as a replica would.
func applyUpdate(state map[string][]byte, u update) {
	switch u.kind {
	case kindSet:
		state[u.key] = u.value
	case kindDelete:
		delete(state, u.key)
	}
}

func TestServerEvictionIsPublished(t *testing.T) {
	for _, pol := range []Policy{LRU, TwoQueue, ARC} {
		t.Run(pol.String(), func(t *testing.T) {
			e := newSenv(t, core.TCP)
			per := int64(len("k0") + 100 + 8 + EntryOverhead)
			s, _ := e.server(WithServerMaxBytes(3*per), WithServerPolicy(pol))
			c := e.client("client")
			sub := updates(t, c.p, "cache")
			ctx := testCtx(t, 20*time.Second)
			val := bytes.Repeat([]byte("v"), 100)
			for i := range 5 {
				if _, err := c.Set(ctx, fmt.Sprintf("k%d", i), val, 0); err != nil {
					t.Fatal(err)
				}
			}
			state := map[string][]byte{}
			evicted := 0
			for seq := uint64(1); seq <= 7; seq++ {
				u := nextUpdate(t, sub)
				if u.seq != seq {
					t.Fatalf("update %+v, want seq %d", u, seq)
				}
				if u.kind == kindDelete {
					if u.reason != Evicted {
						t.Fatalf("delete %+v, want reason Evicted", u)
					}
					evicted++
				}
				applyUpdate(state, u)
			}
			st := s.Stats()
			if evicted != 2 || st.Evictions != 2 || st.Entries != 3 || st.Bytes != 3*per || len(state) != 3 {
				t.Fatalf("evicted %d, stats %+v, replica keys %d", evicted, st, len(state))
			}
			_, recs := download(t, c.p, "cache")
			for k := range state {
				if _, ok := recs[k]; !ok {
					t.Fatalf("replica has %q, snapshot %v", k, recs)
				}
			}
		})
	}
}

func TestServerSnapshot(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *senv) {
		s, _ := e.server()
		c := e.client("client")
		ctx := testCtx(t, 20*time.Second)
		h, recs := download(t, c.p, "cache")
		if h.epoch != s.Epoch() || h.seq != 0 || h.count != 0 || len(recs) != 0 {
			t.Fatalf("empty snapshot %+v %v", h, recs)
		}
		c.Set(ctx, "a", []byte("1"), 0)
		c.Set(ctx, "b", []byte("2"), time.Hour)
		c.Set(ctx, "c", bytes.Repeat([]byte("x"), 3<<20/4), 0) // spans chunks
		c.Delete(ctx, "a")
		h, recs = download(t, c.p, "cache")
		if h.epoch != s.Epoch() || h.seq != 4 || h.count != 2 || len(recs) != 2 {
			t.Fatalf("snapshot %+v, %d records", h, len(recs))
		}
		b := recs["b"]
		if b.version != 2 || string(b.value) != "2" || b.ttl <= 59*time.Minute || b.ttl > time.Hour {
			t.Fatalf("record b %+v", b)
		}
		if r := recs["c"]; r.version != 3 || len(r.value) != 3<<20/4 || r.ttl != 0 {
			t.Fatalf("record c: version %d, %d bytes, ttl %v", r.version, len(r.value), r.ttl)
		}
		if st := s.Stats(); st.Snapshots != 2 {
			t.Fatalf("snapshots %d", st.Snapshots)
		}
	})
}

// A removal the cache reports after the key was set again (its callback
// ran late) is not published: the set superseded it, and a delete after
// it would leave replicas without a key the server has.
func TestServerSkipsSupersededRemovals(t *testing.T) {
	e := newSenv(t, core.TCP)
	s, _ := e.server()
	c := e.client("client")
	sub := updates(t, c.p, "cache")
	ctx := testCtx(t, 20*time.Second)
	c.Set(ctx, "k", []byte("new"), 0)
	s.onRemove("k", srvEntry{}, Expired)    // late: "k" is there again
	s.onRemove("gone", srvEntry{}, Evicted) // not there: published
	waitFor(t, 10*time.Second, "the removals to be flushed", func() bool {
		s.gmu.Lock()
		defer s.gmu.Unlock()
		return len(s.gone) == 0
	})
	c.Set(ctx, "after", []byte("x"), 0)
	var got []string
	for range 3 {
		u := nextUpdate(t, sub)
		got = append(got, fmt.Sprintf("%d %d %s %v", u.seq, u.kind, u.key, u.reason))
	}
	want := []string{"1 1 k Reason(0)", "2 2 gone evicted", "3 1 after Reason(0)"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("updates %q, want %q", got, want)
	}
	if s.st.supersededRemovals.Load() != 1 {
		t.Fatalf("superseded removals %d", s.st.supersededRemovals.Load())
	}
}
