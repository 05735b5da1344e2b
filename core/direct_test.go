package core

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// Direct calls (At): a node known by its endpoint, without a registry
// lookup, with the same deadlines, errors and security as any call.

func TestDirectCall(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		srv := e.peer("direct-srv")
		provideEcho(t, srv, "echo")
		// The caller's registry is empty: it knows srv only by address.
		other := newTenv(t, e.tr)
		cli := other.peer("direct-cli", WithDiscoveryInterval(10*time.Millisecond))
		ctx := e.ctx(10 * time.Second)
		if _, err := cli.Call(ctx, "echo", []byte("x")); !errors.Is(err, ErrNoProvider) {
			t.Fatalf("without At: %v, want ErrNoProvider", err)
		}
		at := At(srv.Info().RPC)
		for i := range 5 {
			if r, err := cli.Call(ctx, "echo", []byte("hi"), at); err != nil || string(r) != "hi" {
				t.Fatalf("direct call %d: %q, %v", i, r, err)
			}
			time.Sleep(30 * time.Millisecond) // pacing: registry readings happen between the calls
		}
		// One connection, kept across readings of the registry.
		if n := srv.Stats().Server.RPCPeers; n != 1 {
			t.Fatalf("server has %d callers, want 1", n)
		}
		_, err := cli.Call(ctx, "nothere", nil, at)
		remoteErr(t, err, CodeUnknownService)
		// reserved services are reachable too
		if _, err := cli.Call(ctx, "zmp.ping", nil, at); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDirectCallErrors(t *testing.T) {
	e := newTenv(t, TCP)
	cli := e.peer("direct-err")
	for _, bad := range []string{"", "http://x", "tcp://127.0.0.1:1?key=notakey"} {
		if _, err := cli.Call(e.ctx(time.Second), "echo", nil, At(bad)); err == nil || errors.Is(err, ErrNoProvider) {
			t.Errorf("At(%q): %v, want an argument error", bad, err)
		}
	}
	// Nobody listens: the call ends by its deadline.
	ln := freeTCPEndpoint(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	_, err := cli.Call(ctx, "echo", nil, At(ln))
	if err == nil || time.Since(t0) > 5*time.Second {
		t.Fatalf("call to a closed port: %v after %v", err, time.Since(t0))
	}
}

func TestDirectCallCurve(t *testing.T) {
	srvKeys, _ := GenerateKeyPair()
	cliKeys, _ := GenerateKeyPair()
	auth, err := NewAuthenticator(AllowKeys(srvKeys.Public, cliKeys.Public))
	if err != nil {
		t.Fatal(err)
	}
	reg := NewMemRegistry()
	srv, err := NewPeer(context.Background(), "curve-direct", WithRegistry(reg), WithSecurity(Curve(srvKeys, auth)))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	provideEcho(t, srv, "echo")
	cli, err := NewPeer(context.Background(), "curve-direct-cli", WithRegistry(NewMemRegistry()), WithSecurity(Curve(cliKeys, auth)))
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info := srv.Info()
	if r, err := cli.Call(ctx, "echo", []byte("secret"), At(info.RPC+"?key="+info.Key)); err != nil || string(r) != "secret" {
		t.Fatalf("CURVE direct call: %q, %v", r, err)
	}
	// The wrong server key is refused at the handshake, not waited on.
	wrong, _ := GenerateKeyPair()
	t0 := time.Now()
	_, err = cli.Call(ctx, "echo", nil, At(info.RPC+"?key="+wrong.Public.String()))
	if err == nil || !strings.Contains(err.Error(), "unreachable") && !errors.Is(err, ErrDenied) {
		t.Fatalf("wrong server key: %v", err)
	}
	if took := time.Since(t0); took > 8*time.Second {
		t.Fatalf("wrong server key took %v to fail", took)
	}
}

// TestOnNodeID: a call pinned to an instance goes to that instance
// only; once it is gone, a new instance under the same name does not
// get the call.
func TestOnNodeID(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		old := e.peer("by-id")
		provideEcho(t, old, "echo")
		cli := e.peer("by-id-cli")
		ctx := e.ctx(10 * time.Second)
		id := old.ID()
		if r, err := cli.Call(ctx, "echo", []byte("a"), OnNodeID(id)); err != nil || string(r) != "a" {
			t.Fatalf("OnNodeID: %q, %v", r, err)
		}
		if _, err := cli.Call(ctx, "zmp.ping", nil, OnNodeID(id)); err != nil {
			t.Fatalf("zmp.ping OnNodeID: %v", err)
		}
		if err := old.Close(); err != nil {
			t.Fatal(err)
		}
		fresh := e.peer("by-id")
		provideEcho(t, fresh, "echo")
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		// The caller may not have seen the old connection close yet: the
		// call then fails on it instead of finding no provider.
		_, err := cli.Call(cctx, "echo", []byte("b"), OnNodeID(id))
		if !errors.Is(err, ErrNoProvider) && !errors.Is(err, ErrConnectionLost) {
			t.Fatalf("call to a closed instance: %v, want ErrNoProvider or ErrConnectionLost", err)
		}
		if n := serviceCalls(fresh, "echo"); n != 0 {
			t.Fatalf("the new instance of the name served %d calls pinned to the old one", n)
		}
		if r, err := cli.Call(ctx, "echo", []byte("c"), OnNode("by-id")); err != nil || string(r) != "c" {
			t.Fatalf("OnNode after restart: %q, %v", r, err)
		}
	})
}
