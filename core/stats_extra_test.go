package core

import (
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestAddStats(t *testing.T) {
	e := newTenv(t, TCP)
	srv, cli := e.peer("srv"), e.peer("cli")
	var mu sync.Mutex
	hits := 0
	remove, err := srv.AddStats("cache", func() any {
		mu.Lock()
		defer mu.Unlock()
		return map[string]int{"hits": hits}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.AddStats("cache", func() any { return 1 }); !errors.Is(err, ErrStatsTaken) {
		t.Fatalf("second source of one name: %v, want ErrStatsTaken", err)
	}
	if _, err := srv.AddStats("", func() any { return 1 }); !errors.Is(err, ErrBadName) {
		t.Fatalf("empty name: %v, want ErrBadName", err)
	}
	if _, err := srv.AddStats("nil", nil); err == nil {
		t.Fatal("nil function accepted")
	}
	bad, err := srv.AddStats("bad", func() any { return func() {} })
	if err != nil {
		t.Fatal(err)
	}
	panics, err := srv.AddStats("panics", func() any { panic("boom") })
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	hits = 7
	mu.Unlock()

	st, err := Call[Stats](e.ctx(10*time.Second), cli, IntrospectStats, nil, OnNode("srv"))
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Hits int }
	if err := json.Unmarshal(st.Extra["cache"], &got); err != nil || got.Hits != 7 {
		t.Fatalf("extra cache = %s (%v), want hits 7", st.Extra["cache"], err)
	}
	for _, n := range []string{"bad", "panics"} {
		var e struct{ Error string }
		if err := json.Unmarshal(st.Extra[n], &e); err != nil || e.Error == "" {
			t.Fatalf("extra %s = %s, want an error report", n, st.Extra[n])
		}
	}

	remove()
	remove() // harmless twice
	bad()
	panics()
	if x := srv.Stats().Extra; x != nil {
		t.Fatalf("after remove: extra = %v, want none", x)
	}
	// The name is free again, and an old remove does not take the new source.
	if _, err := srv.AddStats("cache", func() any { return 2 }); err != nil {
		t.Fatal(err)
	}
	remove()
	if string(srv.Stats().Extra["cache"]) != "2" {
		t.Fatalf("an old remove took the new source: %v", srv.Stats().Extra)
	}
}
