package consensus

import (
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/hashicorp/raft"
)

// faults are the links a nemesis cut, and the drops and delays it set,
// shared by the fault-injecting transports of one cluster.
type faults struct {
	mu       sync.Mutex
	cut      map[[2]raft.ServerAddress]bool
	drop     float64 // probability that an RPC is lost, before or after delivery
	maxDelay time.Duration
	rng      *rand.Rand
}

var errInjected = errors.New("consensus test: fault injected")

// before decides the fate of an RPC from a to b: an error to return
// without sending it, whether to lose its answer, and a delay.
func (f *faults) before(a, b raft.ServerAddress) (err error, loseAnswer bool, delay time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cut[[2]raft.ServerAddress{a, b}] {
		return errInjected, false, 0
	}
	if f.maxDelay > 0 {
		delay = time.Duration(f.rng.Int64N(int64(f.maxDelay)))
	}
	if f.rng.Float64() < f.drop {
		if f.rng.IntN(2) == 0 {
			return errInjected, false, delay
		}
		return nil, true, delay
	}
	return nil, false, delay
}

// faultTransport is this package's Transport with faults injected in
// the RPCs it sends: cut links, losses (of a request, or of its answer
// after the follower acted on it), delays, and so reordering.
type faultTransport struct {
	*Transport
	f *faults
}

func (t faultTransport) run(target raft.ServerAddress, call func() error) error {
	err, lose, delay := t.f.before(t.LocalAddr(), target)
	time.Sleep(delay)
	if err != nil {
		return err
	}
	if err := call(); err != nil {
		return err
	}
	if lose {
		return errInjected
	}
	return nil
}

func (t faultTransport) AppendEntriesPipeline(raft.ServerID, raft.ServerAddress) (raft.AppendPipeline, error) {
	return nil, raft.ErrPipelineReplicationNotSupported // every append goes through run
}

func (t faultTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress, a *raft.AppendEntriesRequest, r *raft.AppendEntriesResponse) error {
	return t.run(target, func() error { return t.Transport.AppendEntries(id, target, a, r) })
}

func (t faultTransport) RequestVote(id raft.ServerID, target raft.ServerAddress, a *raft.RequestVoteRequest, r *raft.RequestVoteResponse) error {
	return t.run(target, func() error { return t.Transport.RequestVote(id, target, a, r) })
}

func (t faultTransport) RequestPreVote(id raft.ServerID, target raft.ServerAddress, a *raft.RequestPreVoteRequest, r *raft.RequestPreVoteResponse) error {
	return t.run(target, func() error { return t.Transport.RequestPreVote(id, target, a, r) })
}

func (t faultTransport) TimeoutNow(id raft.ServerID, target raft.ServerAddress, a *raft.TimeoutNowRequest, r *raft.TimeoutNowResponse) error {
	return t.run(target, func() error { return t.Transport.TimeoutNow(id, target, a, r) })
}

func (t faultTransport) InstallSnapshot(id raft.ServerID, target raft.ServerAddress, a *raft.InstallSnapshotRequest, r *raft.InstallSnapshotResponse, data io.Reader) error {
	return t.run(target, func() error { return t.Transport.InstallSnapshot(id, target, a, r, data) })
}

// linZmpCluster is a kvCluster on zmp with faults.
type linZmpCluster struct {
	*kvCluster
	f *faults
}

func newLinZmpCluster(t *testing.T, seed uint64) *linZmpCluster {
	f := &faults{cut: map[[2]raft.ServerAddress]bool{}, rng: rand.New(rand.NewPCG(seed, 7))}
	c := &kvCluster{
		wrap: func(tr *Transport) raft.Transport { return faultTransport{tr, f} },
		raftCfg: func(id string) *raft.Config {
			rc := trConfig(raft.ServerID(id))
			rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = 300*time.Millisecond, 300*time.Millisecond, 200*time.Millisecond
			return rc
		},
	}
	return &linZmpCluster{kvCluster: newKVClusterWith(t, c, 3), f: f}
}

func (z *linZmpCluster) nodeList() []*Node {
	var out []*Node
	for _, m := range z.members {
		out = append(out, m.node)
	}
	return out
}

func (z *linZmpCluster) anyLeader() *Node {
	for _, m := range z.members {
		if m.node.IsLeader() {
			return m.node
		}
	}
	return nil
}

func (z *linZmpCluster) leader(among ...*Node) *Node {
	if len(among) == 0 {
		among = z.nodeList()
	}
	var l *Node
	trWaitFor(z.t, 60*time.Second, "a leader", func() bool {
		for _, nd := range among {
			if nd.IsLeader() {
				l = nd
				return true
			}
		}
		return false
	})
	return l
}

func (z *linZmpCluster) addr(nd *Node) raft.ServerAddress {
	for i, m := range z.members {
		if m.node == nd {
			return z.servers[i].Address
		}
	}
	return ""
}

func (z *linZmpCluster) isolate(nd *Node) {
	a := z.addr(nd)
	z.f.mu.Lock()
	defer z.f.mu.Unlock()
	for _, s := range z.servers {
		if s.Address != a {
			z.f.cut[[2]raft.ServerAddress{a, s.Address}] = true
			z.f.cut[[2]raft.ServerAddress{s.Address, a}] = true
		}
	}
}

func (z *linZmpCluster) heal() {
	z.f.mu.Lock()
	defer z.f.mu.Unlock()
	clear(z.f.cut)
	z.f.drop, z.f.maxDelay = 0, 0
}

func (z *linZmpCluster) chaos(r *rand.Rand) {
	z.f.mu.Lock()
	defer z.f.mu.Unlock()
	z.f.drop = 0.05 + 0.15*r.Float64()
	z.f.maxDelay = time.Duration(1+r.IntN(20)) * time.Millisecond
}

// TestLinearizableOverZmp is TestLinearizable on the zmp transport with
// CURVE and durable storage, the nemesis also dropping and delaying
// messages (which reorders them).
func TestLinearizableOverZmp(t *testing.T) {
	seeds, d := linSeeds(t)
	total := 0
	for seed := range uint64(seeds) {
		res, n := linRunOn(t, newLinZmpCluster(t, seed+1), seed+1, d, false)
		total += n
		if res == porcupine.Illegal {
			t.Fatalf("seed %d: the history of %d operations is not linearizable", seed+1, n)
		}
		if n < 50 {
			t.Fatalf("seed %d: only %d operations", seed+1, n)
		}
		t.Logf("seed %d: %d operations, %v", seed+1, n, res)
	}
	t.Logf("%d seeds of %v, %d operations checked", seeds, d, total)
}
