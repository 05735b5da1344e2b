package core

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// registerCounter counts the entries a peer writes to its registry.
type registerCounter struct {
	Registry
	writes atomic.Int64
}

func (r *registerCounter) Register(ctx context.Context, info NodeInfo, ttl time.Duration) error {
	r.writes.Add(1)
	return r.Registry.Register(ctx, info, ttl)
}

// Advertise of many topics at once writes the registry entry once, and
// lists every one; past WithMaxTopics it advertises those that fit and
// says why the rest did not.
func TestAdvertiseManyAtOnce(t *testing.T) {
	e := newTenv(t, TCP)
	reg := &registerCounter{Registry: e.reg}
	const n = 500
	pub := e.peer("pub", WithRegistry(reg), WithMaxTopics(n+2), WithLeaseTTL(time.Minute))
	topics := make([]string, n)
	for i := range topics {
		topics[i] = fmt.Sprintf("t.%03d", i)
	}
	before := reg.writes.Load()
	if err := pub.Advertise(topics...); err != nil {
		t.Fatal(err)
	}
	if w := reg.writes.Load() - before; w < 1 || w > 2 { // 2: a lease renewal may fall in between
		t.Fatalf("%d registry writes for one Advertise of %d topics, want 1", w, n)
	}
	ctx := e.ctx(10 * time.Second)
	info, err := Lookup(ctx, e.reg, "pub")
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range topics {
		if !info.Publishes(topic) {
			t.Fatalf("%s not in the registry entry (%d topics there)", topic, len(info.Topics))
		}
	}
	before = reg.writes.Load()
	if err := pub.Advertise(topics[:10]...); err != nil || reg.writes.Load() != before {
		t.Fatalf("advertising known topics again: %v, %d writes", err, reg.writes.Load()-before)
	}
	err = pub.Advertise("x.1", "x.2", "x.3", "x.4")
	if !errors.Is(err, ErrTooManyTopics) {
		t.Fatalf("advertising past the limit: %v, want ErrTooManyTopics", err)
	}
	info, err = Lookup(ctx, e.reg, "pub")
	if err != nil || !info.Publishes("x.1") || !info.Publishes("x.2") || info.Publishes("x.3") {
		t.Fatalf("past the limit: the topics that fit are listed, the others not: %v", err)
	}
	if err := pub.Advertise("bad name\x00"); !errors.Is(err, ErrBadName) {
		t.Fatalf("a bad name: %v", err)
	}
}
