package cache

import (
	"errors"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
)

func TestClientWithoutServer(t *testing.T) {
	e := newSenv(t, core.TCP)
	c := e.client("client")
	ctx := testCtx(t, 10*time.Second)
	if _, _, err := c.Get(ctx, "k"); !errors.Is(err, core.ErrNoProvider) {
		t.Fatalf("get without a server: %v, want ErrNoProvider", err)
	}
	if _, err := c.Set(ctx, "k", nil, 0); !errors.Is(err, core.ErrNoProvider) {
		t.Fatalf("set without a server: %v", err)
	}
	if _, err := NewClient(nil, ""); !errors.Is(err, ErrBadOption) {
		t.Fatalf("nil peer: %v", err)
	}
	if c2, _ := NewClient(c.p, ""); c2.Name() != DefaultServerName {
		t.Fatalf("default name %q", c2.Name())
	}
}

// The client's call options pin its calls: two servers of the same name
// on two nodes, each reached with OnNode.
func TestClientCallOptions(t *testing.T) {
	e := newSenv(t, core.TCP)
	ctx := testCtx(t, 20*time.Second)
	for _, node := range []string{"a", "b"} {
		s, err := NewServer(e.peer(node), "cache")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
	}
	p := e.peer("client")
	for _, node := range []string{"a", "b"} {
		c, err := NewClient(p, "cache", core.OnNode(node))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Set(ctx, "where", []byte(node), 0); err != nil {
			t.Fatal(err)
		}
	}
	for _, node := range []string{"a", "b"} {
		c, _ := NewClient(p, "cache", core.OnNode(node))
		if v, _, err := c.Get(ctx, "where"); err != nil || string(v) != node {
			t.Fatalf("get on %s: %q %v", node, v, err)
		}
		if st, err := c.Stats(ctx); err != nil || st.Sets != 1 || st.Gets != 1 {
			t.Fatalf("stats of %s: %+v %v", node, st, err)
		}
	}
}

// Values given to Set may be reused at once; values Get returns are
// the caller's.
func TestClientByteOwnership(t *testing.T) {
	e := newSenv(t, core.TCP)
	e.server()
	c := e.client("client")
	ctx := testCtx(t, 20*time.Second)
	buf := []byte("first")
	if _, err := c.Set(ctx, "k", buf, 0); err != nil {
		t.Fatal(err)
	}
	copy(buf, "XXXXX")
	v, _, err := c.Get(ctx, "k")
	if err != nil || string(v) != "first" {
		t.Fatalf("after reusing the set's buffer: %q %v", v, err)
	}
	copy(v, "YYYYY")
	if v2, _, _ := c.Get(ctx, "k"); string(v2) != "first" {
		t.Fatalf("after modifying a returned value: %q", v2)
	}
}

func TestRemoteToSentinel(t *testing.T) {
	for _, tt := range []struct {
		code     core.Code
		sentinel error
	}{{CodeVersionMismatch, ErrVersionMismatch}, {CodeValueTooLarge, ErrTooLarge}} {
		re := core.NewError(tt.code, "x")
		err := remoteToSentinel(re)
		var got *core.RemoteError
		if !errors.Is(err, tt.sentinel) || !errors.As(err, &got) || got.Code != tt.code {
			t.Errorf("code %d: %v", tt.code, err)
		}
	}
	re := core.NewError(core.CodeBadRequest, "x")
	if err := remoteToSentinel(re); err != error(re) {
		t.Errorf("other codes pass through: %v", err)
	}
}
