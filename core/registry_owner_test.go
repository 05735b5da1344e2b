package core

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Under CURVE a registry node's entry belongs to its registerer's key:
// a client that learnt the entry's token but holds another key is
// refused, while a new connection with the owner's key and token (the
// owner reconnecting) is let in.
func TestRegistryOwnershipFollowsCurveKey(t *testing.T) {
	c := newCluster(t, "registry", "owner", "other")
	rs, client := curveRegistry(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	info := NodeInfo{Name: "svc", ID: newID(), RPC: "tcp://127.0.0.1:1"}
	owner := client("owner")
	if err := owner.Register(ctx, info, time.Minute); err != nil {
		t.Fatal(err)
	}
	k := entryKey{info.Name, info.ID}
	owner.mu.Lock()
	token := owner.entries[k].Token
	owner.mu.Unlock()
	if token == "" {
		t.Fatal("no token kept after registering")
	}

	// Another key, with the stolen token.
	thief := client("other")
	thief.entries[k] = registerRequest{Token: token}
	stolen := info
	stolen.RPC = "tcp://127.0.0.1:2"
	if err := thief.Register(ctx, stolen, time.Minute); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("Register with the token under another key: %v, want ErrNotOwner", err)
	}
	thief.entries[k] = registerRequest{Token: token}
	if err := thief.Deregister(ctx, info.Name, info.ID); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("Deregister with the token under another key: %v, want ErrNotOwner", err)
	}

	// The owner's key on a new connection, with the token: allowed.
	again := client("owner")
	again.entries[k] = registerRequest{Token: token}
	moved := info
	moved.RPC = "tcp://127.0.0.1:3"
	if err := again.Register(ctx, moved, time.Minute); err != nil {
		t.Fatalf("the owner's key and token on a new connection: %v", err)
	}
	// Without the token, the same key on another connection is refused.
	tokenless := client("owner")
	if err := tokenless.Register(ctx, info, time.Minute); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("the owner's key without the token: %v, want ErrNotOwner", err)
	}
	n, err := Lookup(ctx, rs.reg, "svc")
	if err != nil || n.RPC != moved.RPC {
		t.Fatalf("entry %+v, %v; want the owner's last registration", n, err)
	}
}

// curveRegistry starts a CURVE registry node with c's "registry" keys
// and returns it, with a function that makes a client of it holding
// the keys of name.
func curveRegistry(t *testing.T, c *cluster) (*RegistryServer, func(name string) *RemoteRegistry) {
	t.Helper()
	rs, err := NewRegistryServer(context.Background(), "tcp://127.0.0.1:0", nil, c.curve("registry"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Close() })
	return rs, func(name string) *RemoteRegistry {
		r, err := NewRemoteRegistry(rs.Address(), c.curve(name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
}
