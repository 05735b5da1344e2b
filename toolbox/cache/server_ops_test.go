package cache

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
)

func TestServerOps(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *senv) {
		s, _ := e.server()
		c := e.client("client")
		ctx := testCtx(t, 20*time.Second)

		if _, _, err := c.Get(ctx, "k"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("get of a missing key: %v, want ErrNotFound", err)
		}
		v1, err := c.Set(ctx, "k", []byte("one"), 0)
		if err != nil || v1 != 1 {
			t.Fatalf("set: version %d, %v; want 1", v1, err)
		}
		got, ver, err := c.Get(ctx, "k")
		if err != nil || string(got) != "one" || ver != v1 {
			t.Fatalf("get: %q version %d, %v", got, ver, err)
		}
		v2, err := c.Set(ctx, "k", []byte{}, NoExpiry)
		if err != nil || v2 != 2 {
			t.Fatalf("second set: %d, %v", v2, err)
		}
		if got, _, err := c.Get(ctx, "k"); err != nil || len(got) != 0 {
			t.Fatalf("empty value: %q, %v", got, err)
		}
		if _, err := c.CompareAndSet(ctx, "k", v1, []byte("stale"), 0); !errors.Is(err, ErrVersionMismatch) {
			t.Fatalf("cas with an old version: %v", err)
		}
		var re *core.RemoteError
		if _, err := c.CompareAndSet(ctx, "k", 0, []byte("x"), 0); !errors.As(err, &re) || re.Code != CodeVersionMismatch {
			t.Fatalf("cas expecting absence of a present key: %v", err)
		}
		v3, err := c.CompareAndSet(ctx, "k", v2, []byte("three"), 0)
		if err != nil || v3 != 3 {
			t.Fatalf("cas: %d, %v", v3, err)
		}
		v4, err := c.CompareAndSet(ctx, "new", 0, []byte("fresh"), 0)
		if err != nil || v4 != 4 {
			t.Fatalf("cas of an absent key: %d, %v", v4, err)
		}
		if ok, err := c.Delete(ctx, "k"); !ok || err != nil {
			t.Fatalf("delete: %v, %v", ok, err)
		}
		if ok, err := c.Delete(ctx, "k"); ok || err != nil {
			t.Fatalf("second delete: %v, %v", ok, err)
		}
		if _, _, err := c.Get(ctx, "k"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("get after delete: %v", err)
		}
		if _, err := c.CompareAndSet(ctx, "k", v3, []byte("x"), 0); !errors.Is(err, ErrVersionMismatch) {
			t.Fatalf("cas of a deleted key: %v", err)
		}
		st, err := c.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := ServerStats{Name: "cache", Epoch: s.Epoch(), Seq: 5, Policy: "lru", Entries: 1, Gets: 4, Hits: 2, Misses: 2,
			Sets: 2, Deletes: 1, CASOK: 2, CASConflicts: 3}
		st.Bytes, st.MaxEntries, st.MaxBytes, st.PublishDropped = 0, 0, 0, 0
		if st != want {
			t.Fatalf("stats\n got %+v\nwant %+v", st, want)
		}
		if ps := s.Stats(); ps.Seq != 5 || ps.Entries != 1 || ps.Bytes != int64(len("new")+len("fresh")+8+EntryOverhead) {
			t.Fatalf("server stats %+v", ps)
		}
	})
}

func TestServerTTL(t *testing.T) {
	e := newSenv(t, core.TCP)
	_, _ = e.server(WithServerDefaultTTL(time.Hour), WithServerMaxTTL(2*time.Hour))
	c := e.client("client")
	ctx := testCtx(t, 20*time.Second)
	if _, err := c.Set(ctx, "short", []byte("v"), 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Get(ctx, "short"); err != nil {
		t.Fatalf("get before expiry: %v", err)
	}
	waitFor(t, 10*time.Second, "the entry to expire", func() bool {
		_, _, err := c.Get(ctx, "short")
		return errors.Is(err, ErrNotFound)
	})
	// The default and the cap show in a get reply's ttl.
	for _, tt := range []struct {
		ttl      time.Duration
		min, max time.Duration
	}{{0, 59 * time.Minute, time.Hour}, {NoExpiry, 119 * time.Minute, 2 * time.Hour}, {5 * time.Hour, 119 * time.Minute, 2 * time.Hour}} {
		if _, err := c.Set(ctx, "k", []byte("v"), tt.ttl); err != nil {
			t.Fatal(err)
		}
		reply, err := c.p.Call(ctx, "cache.get", appendKeyRequest(nil, "k"))
		if err != nil {
			t.Fatal(err)
		}
		g, err := decodeGetReply(reply)
		if err != nil || g.ttl < tt.min || g.ttl > tt.max {
			t.Errorf("set with ttl %v: ttl left %v (%v), want between %v and %v", tt.ttl, g.ttl, err, tt.min, tt.max)
		}
	}
}

func TestServerOptions(t *testing.T) {
	e := newSenv(t, core.TCP)
	p := e.peer("n")
	bad := map[string]ServerOption{
		"entries": WithServerMaxEntries(0), "bytes": WithServerMaxBytes(0), "policy": WithServerPolicy(Policy(9)),
		"default ttl": WithServerDefaultTTL(0), "max ttl": WithServerMaxTTL(-time.Second),
		"heartbeat": WithServerHeartbeat(time.Microsecond), "value": WithServerMaxValueSize(0),
		"huge value": WithServerMaxValueSize(1 << 30), "nil": nil,
	}
	for name, o := range bad {
		if _, err := NewServer(p, "c", o); !errors.Is(err, ErrBadOption) {
			t.Errorf("%s: %v, want ErrBadOption", name, err)
		}
	}
	if _, err := NewServer(nil, "c"); !errors.Is(err, ErrBadOption) {
		t.Errorf("nil peer: %v", err)
	}
	if _, err := NewServer(p, "bad\nname"); !errors.Is(err, core.ErrBadName) {
		t.Errorf("bad name: %v", err)
	}
	if len(p.Info().Services) != 0 {
		t.Errorf("failed starts left services behind: %v", p.Info().Services)
	}
	if _, err := NewClient(p, "bad\x01"); !errors.Is(err, core.ErrBadName) {
		t.Errorf("client with a bad name: %v", err)
	}
	s, err := NewServer(p, "")
	if err != nil || s.Name() != DefaultServerName {
		t.Fatalf("default name: %v %v", s, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s.Close() // idempotent
	if len(p.Info().Services) != 0 {
		t.Errorf("Close left services: %v", p.Info().Services)
	}
	if _, ok := p.Stats().Extra["cache.server.cache"]; ok {
		t.Error("Close left the stats source")
	}
}

func TestClientKeyChecks(t *testing.T) {
	e := newSenv(t, core.TCP)
	e.server()
	c := e.client("client")
	ctx := testCtx(t, 10*time.Second)
	long := string(bytes.Repeat([]byte("k"), MaxKeyLen+1))
	for _, key := range []string{"", long} {
		if _, _, err := c.Get(ctx, key); !errors.Is(err, ErrBadKey) {
			t.Errorf("get %d-byte key: %v", len(key), err)
		}
		if _, err := c.Set(ctx, key, nil, 0); !errors.Is(err, ErrBadKey) {
			t.Errorf("set %d-byte key: %v", len(key), err)
		}
		if _, err := c.Delete(ctx, key); !errors.Is(err, ErrBadKey) {
			t.Errorf("del %d-byte key: %v", len(key), err)
		}
		if _, err := c.CompareAndSet(ctx, key, 0, nil, 0); !errors.Is(err, ErrBadKey) {
			t.Errorf("cas %d-byte key: %v", len(key), err)
		}
	}
	max := long[:MaxKeyLen]
	if _, err := c.Set(ctx, max, []byte("v"), 0); err != nil {
		t.Fatalf("longest key: %v", err)
	}
	if v, _, err := c.Get(ctx, max); err != nil || string(v) != "v" {
		t.Fatalf("longest key: %q %v", v, err)
	}
}
