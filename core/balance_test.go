package core

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// recordingBalancer picks the provider with the lowest latency seen
// and records what it was shown.
type recordingBalancer struct {
	mu    sync.Mutex
	shown map[string]ProviderLoad
}

func (b *recordingBalancer) Pick(_ string, ps []Provider) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range ps {
		b.shown[p.Node().Name] = p.Load()
	}
	return len(ps) + 7 // out of range: the first is used
}

func TestBalancerPlugged(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		for _, n := range []string{"bal-a", "bal-b"} {
			provideEcho(t, e.peer(n), "echo")
		}
		rb := &recordingBalancer{shown: map[string]ProviderLoad{}}
		cli := e.peer("bal-cli", WithBalancer(rb))
		ctx := e.ctx(10 * time.Second)
		if _, err := Discover(ctx, e.reg, "echo", 2); err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"bal-a", "bal-b"} { // connect to both
			if _, err := cli.Call(ctx, "zmp.ping", nil, OnNode(n)); err != nil {
				t.Fatal(err)
			}
		}
		for range 20 {
			if _, err := cli.Call(ctx, "echo", []byte("x")); err != nil {
				t.Fatal(err)
			}
		}
		rb.mu.Lock()
		defer rb.mu.Unlock()
		if len(rb.shown) != 2 {
			t.Fatalf("balancer was shown %v, want both providers", rb.shown)
		}
		for n, l := range rb.shown {
			if !l.Healthy || l.Outstanding < 0 || l.LastHeard > 5*time.Second {
				t.Errorf("%s: load %+v", n, l)
			}
		}
		if l := rb.shown["bal-a"]; l.Latency <= 0 {
			t.Errorf("bal-a (always picked) shows no latency: %+v", l)
		}
	})
}

func TestBalancerRoundRobin(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		names := []string{"rr3-a", "rr3-b", "rr3-c"}
		var peers []*Peer
		for _, n := range names {
			p := e.peer(n)
			provideEcho(t, p, "echo")
			peers = append(peers, p)
		}
		cli := e.peer("rr3-cli", WithBalancer(RoundRobin()))
		ctx := e.ctx(20 * time.Second)
		if _, err := Discover(ctx, e.reg, "echo", 3); err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if _, err := cli.Call(ctx, "zmp.ping", nil, OnNode(n)); err != nil {
				t.Fatal(err)
			}
		}
		const calls = 30
		for i := range calls {
			if i%5 == 0 {
				time.Sleep(30 * time.Millisecond) // pacing: registry readings between calls
			}
			if _, err := cli.Call(ctx, "echo", []byte("x")); err != nil {
				t.Fatal(err)
			}
		}
		for i, p := range peers {
			if n := serviceCalls(p, "echo"); n != calls/3 {
				t.Errorf("%s served %d of %d calls, want %d", names[i], n, calls, calls/3)
			}
		}
		// A call's own balancer overrides the peer's.
		if _, err := cli.Call(ctx, "echo", nil, Balance(byName{"rr3-c"})); err != nil {
			t.Fatal(err)
		}
		if n := serviceCalls(peers[2], "echo"); n != calls/3+1 {
			t.Errorf("Balance(byName): rr3-c served %d", n)
		}
	})
}

func TestBalancerOptionsRejectNil(t *testing.T) {
	if _, err := NewPeer(context.Background(), "", WithRegistry(NewMemRegistry()), WithBalancer(nil)); err == nil {
		t.Fatal("WithBalancer(nil) accepted")
	}
	p, err := NewPeer(context.Background(), "", WithRegistry(NewMemRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Call(context.Background(), "x", nil, Balance(nil)); err == nil {
		t.Fatal("Balance(nil) accepted")
	}
	if _, err := p.Call(context.Background(), "x", nil, Hedge(0)); err == nil {
		t.Fatal("Hedge(0) accepted")
	}
}

// TestLabelSelectedCalls: Where sends calls only to providers with the
// labels (ErrNoProvider when none has them); Prefer prefers them and
// falls back to the others.
func TestLabelSelectedCalls(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		a := e.peer("lbl-a", WithLabels(map[string]string{"zone": "a", "tier": "gold"}))
		b := e.peer("lbl-b", WithLabels(map[string]string{"zone": "b"}))
		provideEcho(t, a, "echo")
		provideEcho(t, b, "echo")
		cli := e.peer("lbl-cli")
		ctx := e.ctx(20 * time.Second)
		if _, err := Discover(ctx, e.reg, "echo", 2); err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"lbl-a", "lbl-b"} {
			if _, err := cli.Call(ctx, "zmp.ping", nil, OnNode(n)); err != nil {
				t.Fatal(err)
			}
		}
		for range 10 {
			if _, err := cli.Call(ctx, "echo", nil, Where(map[string]string{"zone": "b"})); err != nil {
				t.Fatal(err)
			}
		}
		if na, nb := serviceCalls(a, "echo"), serviceCalls(b, "echo"); na != 0 || nb != 10 {
			t.Fatalf("Where zone=b: lbl-a served %d, lbl-b %d", na, nb)
		}
		_, err := cli.Call(ctx, "echo", nil, Where(map[string]string{"zone": "c"}))
		if !errors.Is(err, ErrNoProvider) {
			t.Fatalf("Where zone=c: %v, want ErrNoProvider", err)
		}
		gold := Prefer(map[string]string{"tier": "gold"}, RoundRobin())
		for range 10 {
			if _, err := cli.Call(ctx, "echo", nil, Balance(gold)); err != nil {
				t.Fatal(err)
			}
		}
		if na := serviceCalls(a, "echo"); na != 10 {
			t.Fatalf("Prefer tier=gold: lbl-a served %d of 10", na)
		}
		// No provider has the preferred label: all of them serve.
		none := Prefer(map[string]string{"tier": "platinum"}, RoundRobin())
		for range 10 {
			if _, err := cli.Call(ctx, "echo", nil, Balance(none)); err != nil {
				t.Fatal(err)
			}
		}
		if na, nb := serviceCalls(a, "echo"), serviceCalls(b, "echo"); na != 15 || nb != 15 {
			t.Fatalf("Prefer with no match: lbl-a served %d, lbl-b %d, want 15 each", na, nb)
		}
	})
}
