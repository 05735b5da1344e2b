package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
)

// modelEntry is an entry of the map model of a server.
type modelEntry struct {
	val []byte
	ver uint64
}

// model is what a server must hold after a sequence of operations, with
// bounds too large to evict and no TTLs.
type model struct {
	seq     uint64
	entries map[string]modelEntry
}

// TestServerMatchesModel runs random get/set/del/cas operations against
// a server and a map model and checks every reply; a subscriber that
// applies the update stream in seq order, and a snapshot, end equal to
// the model.
func TestServerMatchesModel(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			e := newSenv(t, core.TCP)
			s, _ := e.server(WithServerMaxEntries(1<<20), WithServerMaxBytes(1<<30))
			c := e.client("client")
			sub := updates(t, c.p, "cache")
			rng := rand.New(rand.NewPCG(seed, seed*7919))
			m := &model{entries: map[string]modelEntry{}}
			ctx := testCtx(t, 60*time.Second)
			for i := range 1500 {
				if err := m.step(ctx, c, rng); err != nil {
					t.Fatalf("seed %d op %d: %v", seed, i, err)
				}
			}
			// The update stream, applied in order, gives the model.
			replica := map[string]modelEntry{}
			for last := uint64(0); last < m.seq; {
				u := nextUpdate(t, sub)
				if u.epoch != s.Epoch() || u.seq != last+1 {
					t.Fatalf("update %+v after seq %d", u, last)
				}
				last = u.seq
				switch u.kind {
				case kindSet:
					replica[u.key] = modelEntry{val: u.value, ver: u.seq}
				case kindDelete:
					if u.reason != Deleted {
						t.Fatalf("delete with reason %v without bounds or TTLs", u.reason)
					}
					delete(replica, u.key)
				}
			}
			if err := sameEntries(replica, m.entries); err != nil {
				t.Fatalf("replica: %v", err)
			}
			h, recs := download(t, c.p, "cache")
			snap := map[string]modelEntry{}
			for k, r := range recs {
				snap[k] = modelEntry{val: r.value, ver: r.version}
			}
			if h.seq != m.seq || h.epoch != s.Epoch() {
				t.Fatalf("snapshot header %+v, model seq %d", h, m.seq)
			}
			if err := sameEntries(snap, m.entries); err != nil {
				t.Fatalf("snapshot: %v", err)
			}
		})
	}
}

func sameEntries(got, want map[string]modelEntry) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d entries, want %d", len(got), len(want))
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok || g.ver != w.ver || !bytes.Equal(g.val, w.val) {
			return fmt.Errorf("%q: %q v%d (present %v), want %q v%d", k, g.val, g.ver, ok, w.val, w.ver)
		}
	}
	return nil
}

// step does one random operation on the server and the model and
// compares the outcomes.
func (m *model) step(ctx context.Context, c *Client, rng *rand.Rand) error {
	key := fmt.Sprintf("k%d", rng.IntN(16))
	cur, present := m.entries[key]
	switch op := rng.IntN(4); op {
	case 0:
		v, ver, err := c.Get(ctx, key)
		switch {
		case !present && !errors.Is(err, ErrNotFound):
			return fmt.Errorf("get %s: %q v%d %v, want not found", key, v, ver, err)
		case present && (err != nil || ver != cur.ver || !bytes.Equal(v, cur.val)):
			return fmt.Errorf("get %s: %q v%d %v, want %q v%d", key, v, ver, err, cur.val, cur.ver)
		}
	case 1:
		val := randomValue(rng)
		ver, err := c.Set(ctx, key, val, 0)
		if err != nil || ver != m.seq+1 {
			return fmt.Errorf("set %s: v%d %v, want v%d", key, ver, err, m.seq+1)
		}
		m.seq++
		m.entries[key] = modelEntry{val: val, ver: ver}
	case 2:
		ok, err := c.Delete(ctx, key)
		if err != nil || ok != present {
			return fmt.Errorf("del %s: %v %v, want %v", key, ok, err, present)
		}
		if ok {
			m.seq++
			delete(m.entries, key)
		}
	case 3:
		expect := cur.ver // 0 when absent
		switch rng.IntN(3) {
		case 0: // a wrong version
			expect = uint64(rng.IntN(int(m.seq + 2)))
		case 1: // as if it were absent
			expect = 0
		}
		val := randomValue(rng)
		ver, err := c.CompareAndSet(ctx, key, expect, val, 0)
		if expect != cur.ver {
			if !errors.Is(err, ErrVersionMismatch) {
				return fmt.Errorf("cas %s at v%d (is v%d): %v, want a mismatch", key, expect, cur.ver, err)
			}
			return nil
		}
		if err != nil || ver != m.seq+1 {
			return fmt.Errorf("cas %s at v%d: v%d %v, want v%d", key, expect, ver, err, m.seq+1)
		}
		m.seq++
		m.entries[key] = modelEntry{val: val, ver: ver}
	}
	return nil
}

func randomValue(rng *rand.Rand) []byte {
	b := make([]byte, rng.IntN(64))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}
