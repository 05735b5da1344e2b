package consensus

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/hashicorp/raft"
)

// trApplyMany applies n commands from workers goroutines on the
// cluster's leader.
func (c *trCluster) applyMany(prefix string, n, workers int) {
	c.t.Helper()
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	if n%workers != 0 {
		c.t.Fatalf("%d applies do not divide among %d workers", n, workers)
	}
	per := n / workers
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				if err := c.tryApply(fmt.Sprintf("%s-%d-%d", prefix, w, i), 60*time.Second); err != nil {
					errc <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		c.t.Fatal(err)
	}
}

// tryApply applies cmd on whoever leads, retrying through leadership
// changes until timeout; it does not call t.Fatal (goroutines use it).
func (c *trCluster) tryApply(cmd string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var err error
		if l := c.currentLeader(); l != nil {
			if err = l.raft.Apply([]byte(cmd), 10*time.Second).Error(); err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("apply %q: %v", cmd, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *trCluster) currentLeader() *trNode {
	for _, n := range c.nodes {
		if n.raft.State() == raft.Leader {
			return n
		}
	}
	return nil
}

// A 3-member cluster elects a leader, replicates 1000 applies to every
// FSM, hands leadership over with LeadershipTransfer (TimeoutNow), and
// elects a new leader that takes writes when its leader stops.
func TestTransportCluster(t *testing.T) {
	trEachTransport(t, func(t *testing.T, e *trEnv) {
		c := trStartCluster(t, e, trClusterOpts{n: 3})
		c.applyMany("w", 1000, 8)
		c.waitApplied(1000, 60*time.Second)

		old := c.leader(60 * time.Second)
		if err := old.raft.LeadershipTransfer().Error(); err != nil {
			t.Fatal(err)
		}
		next := c.leader(60 * time.Second)
		if next == old {
			t.Fatal("leadership did not move")
		}
		if st := old.trans.Stats(); st.TimeoutNow.Sent == 0 {
			t.Fatalf("no TimeoutNow sent: %+v", st)
		}
		if st := next.trans.Stats(); st.TimeoutNow.Received == 0 {
			t.Fatalf("no TimeoutNow received: %+v", st)
		}
		c.apply("after-transfer", 60*time.Second)
		c.waitApplied(1001, 60*time.Second)

		term := next.raft.CurrentTerm()
		c.stop(next)
		after := c.leader(60 * time.Second)
		if after == next || after.raft.CurrentTerm() <= term {
			t.Fatalf("no new leader after the leader stopped (term %d)", after.raft.CurrentTerm())
		}
		c.applyMany("after-stop", 50, 5)
		c.waitApplied(1051, 60*time.Second)
		for _, n := range c.nodes {
			if n == next {
				continue
			}
			// (Not heartbeats: a member may lead for less than raft's
			// first heartbeat interval, 1000 applies taking a fraction
			// of a second; other tests count them.)
			if st := n.trans.Stats(); st.Append.Sent+st.Append.Received == 0 || st.Vote.Sent+st.Vote.Received == 0 {
				t.Fatalf("%s: stats %+v", n.id, st)
			}
		}
	})
}

// The cluster with AppendEntries pipelined: raft opens pipelines once
// followers answer, and every apply reaches every FSM.
func TestTransportClusterPipelined(t *testing.T) {
	e := trNewEnv(t, core.TCP)
	c := trStartCluster(t, e, trClusterOpts{n: 3, transOpts: []TransportOption{WithPipelineDepth(8)}})
	c.applyMany("p", 1000, 20)
	c.waitApplied(1000, 60*time.Second)
	l := c.leader(60 * time.Second)
	if st := l.trans.Stats(); st.Pipelines == 0 {
		t.Fatalf("no pipeline opened: %+v", st)
	}
	for _, n := range c.nodes {
		if a, _, _ := n.fsm.state(); a != 1000 {
			t.Fatalf("%s applied %d", n.id, a)
		}
	}
}

// Every member on CURVE: the cluster works; a peer whose key the
// members do not hold cannot reach them.
func TestTransportClusterCurve(t *testing.T) {
	e := trNewEnv(t, core.TCP)
	keys := []core.KeyPair{trKeys(t), trKeys(t), trKeys(t)}
	var pubs []core.Key
	for _, k := range keys {
		pubs = append(pubs, k.Public)
	}
	c := trStartCluster(t, e, trClusterOpts{n: 3, peerOpts: func(i int) []core.Option {
		return []core.Option{core.WithSecurity(trCurveSecurity(t, keys[i], pubs...))}
	}})
	for _, n := range c.nodes {
		if _, key, err := core.SplitKeyedEndpoint(string(n.trans.LocalAddr())); err != nil || key == (core.Key{}) {
			t.Fatalf("%s: address %q has no key (%v)", n.id, n.trans.LocalAddr(), err)
		}
	}
	c.applyMany("curve", 200, 4)
	c.waitApplied(200, 60*time.Second)

	strangerKeys := trKeys(t)
	stranger := e.transport(e.peer("stranger", core.WithSecurity(trCurveSecurity(t, strangerKeys, append(pubs, strangerKeys.Public)...))),
		WithRPCTimeout(5*time.Second))
	l := c.leader(60 * time.Second)
	before := l.trans.Stats()
	var resp raft.RequestVoteResponse
	err := stranger.RequestVote("x", l.trans.LocalAddr(), &raft.RequestVoteRequest{RPCHeader: raft.RPCHeader{ProtocolVersion: 3,
		ID: []byte("stranger"), Addr: []byte(stranger.LocalAddr())}, Term: l.raft.CurrentTerm() + 100}, &resp)
	if !errors.Is(err, core.ErrDenied) {
		t.Fatalf("a stranger's vote request: %v, want core.ErrDenied", err)
	}
	t.Logf("stranger's call: %v", err)
	var hb raft.AppendEntriesResponse
	err = stranger.AppendEntries("x", l.trans.LocalAddr(), &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ProtocolVersion: 3,
		Addr: []byte(stranger.LocalAddr())}, Term: l.raft.CurrentTerm() + 100}, &hb)
	if !errors.Is(err, core.ErrDenied) {
		t.Fatalf("a stranger's heartbeat: %v, want core.ErrDenied", err)
	}
	if st := l.trans.Stats(); st.Vote.Received != before.Vote.Received || st.BadRequests != before.BadRequests {
		t.Fatalf("the stranger's calls reached the transport: %+v, before %+v", st, before)
	}
	if got := l.raft.State(); got != raft.Leader {
		t.Fatalf("leader is now %v", got)
	}
	c.apply("after-stranger", 60*time.Second)
	c.waitApplied(201, 60*time.Second)
}
