package consensus

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
)

// kcCluster is a three-member kvCluster (CURVE, durable stores) whose
// members also trust a spare member's key and a client's, with the
// client's peer.
type kcCluster struct {
	*kvCluster
	spare  *kvMember
	client *core.Peer
}

func kcNewCluster(t *testing.T) *kcCluster {
	t.Helper()
	spare := &kvMember{id: "kv3", keys: trKeys(t), dir: filepath.Join(t.TempDir(), "data")}
	ck := trKeys(t)
	c := newKVClusterWith(t, &kvCluster{trusted: []core.Key{spare.keys.Public, ck.Public}}, 3)
	p, err := core.NewPeer(trCtx(t, 20*time.Second), "kc-client", core.WithRegistry(c.reg),
		core.WithDiscoveryInterval(25*time.Millisecond), core.WithSecurity(trCurveSecurity(t, ck, c.trusted...)),
		core.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return &kcCluster{kvCluster: c, spare: spare, client: p}
}

// startSpare starts the spare member with no configuration of its own,
// as a server about to be added is, and returns its address.
func (c *kcCluster) startSpare() string {
	c.t.Helper()
	c.members = append(c.members, c.spare) // stopped at cleanup
	saved := c.servers
	c.servers = nil
	c.startNode(c.spare)
	c.servers = saved
	addr, err := localAddress(c.spare.peer)
	if err != nil {
		c.t.Fatal(err)
	}
	return string(addr)
}

func (c *kcCluster) follower(not ...*kvMember) *kvMember {
	for _, m := range c.members[:3] {
		if m.node != nil && !m.node.IsLeader() && !slices.Contains(not, m) {
			return m
		}
	}
	c.t.Fatal("no follower")
	return nil
}

// kcMemberIDs lists the ids of ms, and the leader's.
func kcMemberIDs(ms []Member) (ids []string, leader string) {
	for _, m := range ms {
		ids = append(ids, m.ID)
		if m.Leader {
			leader = m.ID
		}
		if !m.Voter {
			ids[len(ids)-1] += "(nonvoter)"
		}
	}
	slices.Sort(ids)
	return ids, leader
}

// TestKVAdminMembership: a fourth member is added through a follower,
// catches up and is removed; leadership moves to a named member and
// then to any, all through the Client.
func TestKVAdminMembership(t *testing.T) {
	c := kcNewCluster(t)
	l := c.leader()
	f := c.follower()
	ctx := trCtx(t, 120*time.Second)
	viaFollower := NewClient(c.client, "", core.OnNode(f.id))
	cl := NewClient(c.client, "")

	ms, err := viaFollower.Members(ctx)
	if ids, leader := kcMemberIDs(ms); err != nil || !slices.Equal(ids, []string{"kv0", "kv1", "kv2"}) || leader != l.id {
		t.Fatalf("members through %s: %v (leader %q), %v; want kv0-kv2 led by %s", f.id, ids, leader, err, l.id)
	}
	if _, err := cl.Put(ctx, "before", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}

	addr := c.startSpare()
	if err := viaFollower.AddVoter(ctx, c.spare.id, addr); err != nil {
		t.Fatalf("add %s through follower %s: %v", c.spare.id, f.id, err)
	}
	ms, err = cl.Members(ctx)
	if ids, _ := kcMemberIDs(ms); err != nil || !slices.Equal(ids, []string{"kv0", "kv1", "kv2", "kv3"}) {
		t.Fatalf("members after the add: %v, %v", ids, err)
	}
	for _, m := range ms {
		if m.ID == c.spare.id && m.Address != addr {
			t.Fatalf("the new member's address is %q, want %q", m.Address, addr)
		}
	}
	if _, err := cl.Put(ctx, "after", []byte("2"), 0); err != nil {
		t.Fatal(err)
	}
	trWaitFor(t, 60*time.Second, "the new member catches up", func() bool {
		e1, ok1, _ := c.spare.node.Get(ctx, "before", Stale())
		e2, ok2, _ := c.spare.node.Get(ctx, "after", Stale())
		return ok1 && ok2 && string(e1.Value) == "1" && string(e2.Value) == "2"
	})
	// Its own view, stale, from the new member itself.
	ms, err = NewClient(c.client, "", core.OnNode(c.spare.id)).Members(ctx, Stale())
	if ids, _ := kcMemberIDs(ms); err != nil || len(ids) != 4 {
		t.Fatalf("stale members on the new member: %v, %v", ids, err)
	}

	if err := viaFollower.RemoveServer(ctx, c.spare.id); err != nil {
		t.Fatalf("remove %s: %v", c.spare.id, err)
	}
	c.stop(c.spare)
	ms, err = cl.Members(ctx)
	if ids, _ := kcMemberIDs(ms); err != nil || !slices.Equal(ids, []string{"kv0", "kv1", "kv2"}) {
		t.Fatalf("members after the remove: %v, %v", ids, err)
	}
	if err := cl.RemoveServer(ctx, c.spare.id); !errors.Is(err, ErrNotMember) {
		t.Fatalf("removing a non-member: %v, want ErrNotMember", err)
	}

	// Leadership to a named follower, then to any.
	target := c.follower()
	if err := cl.TransferLeadership(ctx, target.id); err != nil {
		t.Fatalf("transfer to %s: %v", target.id, err)
	}
	trWaitFor(t, 60*time.Second, target.id+" leads", func() bool { return target.node.IsLeader() })
	if err := cl.TransferLeadership(ctx, target.id); err != nil {
		t.Fatalf("transfer to the leader itself: %v", err)
	}
	// The member the client asks may be the one leadership moves to: its
	// forward to the old leader is then cut short, and the answer is
	// ErrOutcomeUnknown; whether a new leader took over is checked below.
	if err := cl.TransferLeadership(ctx, ""); err != nil && !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("transfer to any: %v", err)
	}
	trWaitFor(t, 60*time.Second, "another leader", func() bool {
		nl := c.leader()
		return nl != target
	})
	ms, err = cl.Members(ctx)
	if _, leader := kcMemberIDs(ms); err != nil || leader == target.id || leader == "" {
		t.Fatalf("members after the transfer to any: leader %q, %v", leader, err)
	}
	if err := cl.TransferLeadership(ctx, "nobody"); !errors.Is(err, ErrNotMember) {
		t.Fatalf("transfer to a non-member: %v, want ErrNotMember", err)
	}
	if _, err := cl.Put(ctx, "last", []byte("3"), 0); err != nil {
		t.Fatal(err)
	}
}

// TestKVAdminBadRequests: garbage and out-of-bounds requests to the
// membership services get CodeBadRequest from any member, which goes on
// serving; the Client refuses bad arguments before calling.
func TestKVAdminBadRequests(t *testing.T) {
	c := kcNewCluster(t)
	c.leader()
	ctx := trCtx(t, 60*time.Second)
	long := string(make([]byte, MaxMemberIDLen+1))
	bad := map[string][][]byte{
		"members":  {nil, {2}, {0, 0}},
		"add":      {nil, {0, 0, 0, 1, 'x'}, appendAddRequest(nil, "", "tcp://127.0.0.1:1"), appendAddRequest(nil, "x", "nonsense"), appendAddRequest(nil, "x", "tcp://127.0.0.1:1?key=short"), append(appendAddRequest(nil, "x", "tcp://127.0.0.1:1"), 0)},
		"remove":   {nil, appendIDRequest(nil, ""), appendIDRequest(nil, long), {0, 0, 0, 9, 'x'}},
		"transfer": {nil, appendIDRequest(nil, long), append(appendIDRequest(nil, "kv0"), 1)},
	}
	for _, m := range c.members {
		for op, bodies := range bad {
			for _, b := range bodies {
				_, err := c.client.Call(ctx, "kv."+op, b, core.OnNode(m.id))
				var re *core.RemoteError
				if !errors.As(err, &re) || re.Code != core.CodeBadRequest {
					t.Errorf("kv.%s on %s with %x: %v, want code %d", op, m.id, b, err, core.CodeBadRequest)
				}
			}
		}
	}
	cl := NewClient(c.client, "")
	for name, err := range map[string]error{
		"add without id":      cl.AddVoter(ctx, "", "tcp://127.0.0.1:1"),
		"add with a bad addr": cl.AddVoter(ctx, "x", "udp://h:1"),
		"remove without id":   cl.RemoveServer(ctx, ""),
		"transfer, long id":   cl.TransferLeadership(ctx, long),
	} {
		if !errors.Is(err, ErrBadRequest) {
			t.Errorf("%s: %v, want ErrBadRequest", name, err)
		}
	}
	if ms, err := cl.Members(ctx); err != nil || len(ms) != 3 {
		t.Fatalf("members after garbage: %v, %v", ms, err)
	}
}

// Each decoder, given any bytes, returns a value or an error without
// panicking, and a value it returns encodes back to the same bytes.

func FuzzDecodeMembersRequest(f *testing.F) {
	f.Add(appendMembersRequest(nil, true))
	f.Add(appendMembersRequest(nil, false))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if stale, err := decodeMembersRequest(b); err == nil && string(appendMembersRequest(nil, stale)) != string(b) {
			t.Fatalf("re-encoding %x differs", b)
		}
	})
}

func FuzzDecodeMembersReply(f *testing.F) {
	f.Add(appendMembersReply(nil, []Member{{ID: "a", Address: "tcp://127.0.0.1:1", Voter: true, Leader: true}, {ID: "b", Address: "ipc:///x"}}))
	f.Add(appendMembersReply(nil, nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if ms, err := decodeMembersReply(b); err == nil && string(appendMembersReply(nil, ms)) != string(b) {
			t.Fatalf("re-encoding %x differs", b)
		}
	})
}

func FuzzDecodeAddRequest(f *testing.F) {
	f.Add(appendAddRequest(nil, "n1", "tcp://127.0.0.1:7001"))
	f.Add(appendAddRequest(nil, "n1", "tcp://127.0.0.1:7001?key="+kcFuzzKey(f)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if id, addr, err := decodeAddRequest(b); err == nil && string(appendAddRequest(nil, id, addr)) != string(b) {
			t.Fatalf("re-encoding %x differs", b)
		}
	})
}

func FuzzDecodeRemoveRequest(f *testing.F) {
	f.Add(appendIDRequest(nil, "n1"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if id, err := decodeRemoveRequest(b); err == nil && string(appendIDRequest(nil, id)) != string(b) {
			t.Fatalf("re-encoding %x differs", b)
		}
	})
}

func FuzzDecodeTransferRequest(f *testing.F) {
	f.Add(appendIDRequest(nil, "n1"))
	f.Add(appendIDRequest(nil, ""))
	f.Fuzz(func(t *testing.T, b []byte) {
		if id, err := decodeTransferRequest(b); err == nil && string(appendIDRequest(nil, id)) != string(b) {
			t.Fatalf("re-encoding %x differs", b)
		}
	})
}

// kcFuzzKey is a CURVE public key in Z85, for seeds.
func kcFuzzKey(f *testing.F) string {
	kp, err := core.GenerateKeyPair()
	if err != nil {
		f.Fatal(err)
	}
	return kp.Public.String()
}

// TestKVForwardToAGoneLeader: a follower that forwards a write to a
// leader that has just died gives up on it once it no longer knows that
// leader, instead of waiting for the dead leader's connection until the
// caller's deadline; the client retries, and the write lands on the new
// leader within the deadline.
func TestKVForwardToAGoneLeader(t *testing.T) {
	c := kcNewCluster(t)
	l := c.leader()
	f := c.follower()
	ctx := trCtx(t, 120*time.Second)
	cl := NewClient(c.client, "", core.OnNode(f.id))
	if _, err := cl.Put(ctx, "k", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	c.stop(l)
	// The follower still names the dead leader: the write is forwarded
	// there first. Without giving up on it, the forward would take all
	// of the call's 30 s.
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// A forward that was on its way when the leader's connection broke
	// has an unknown outcome, and says so; putting the same value again
	// is then harmless, and lands on the new leader.
	for {
		_, err := cl.Put(wctx, "k", []byte("2"), 0)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrOutcomeUnknown) || wctx.Err() != nil {
			t.Fatalf("put through %s after the leader %s stopped: %v", f.id, l.id, err)
		}
	}
	if e, _, err := cl.Get(ctx, "k"); err != nil || string(e.Value) != "2" {
		t.Fatalf("get: %q, %v", e.Value, err)
	}
}
