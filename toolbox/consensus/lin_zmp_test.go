package consensus

import (
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// faults are the links a nemesis cut, and the drops and delays it set,
// shared by the fault-injecting transports of one cluster. They also
// count the snapshots sent.
type faults struct {
	mu       sync.Mutex
	cut      map[[2]raft.ServerAddress]bool
	drop     float64 // probability that an RPC is lost, before or after delivery
	maxDelay time.Duration
	rng      *rand.Rand
	// snapSent is, by target, the highest index of a snapshot sent to
	// it (counted when sending starts, whatever comes of it);
	// installs counts those a target accepted.
	snapSent map[raft.ServerAddress]uint64
	installs int
}

func newFaults(seed uint64) *faults {
	return &faults{cut: map[[2]raft.ServerAddress]bool{}, rng: rand.New(rand.NewPCG(seed, 7)),
		snapSent: map[raft.ServerAddress]uint64{}}
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

// snapshotFloor is the highest index of a snapshot ever sent to addr
// (0 for none). Entries at or below it in addr's log may predate the
// snapshot: see lnAuditor.
func (f *faults) snapshotFloor(addr raft.ServerAddress) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snapSent[addr]
}

func (f *faults) installCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.installs
}

// faultTransport is a raft transport (this package's, or raft's
// in-memory one) with faults injected in the RPCs it sends: cut links,
// losses (of a request, or of its answer after the receiver acted on
// it), delays, and so reordering.
type faultTransport struct {
	raft.Transport
	f *faults
}

// newFaultTransport wraps tr, which must also close (raft closes it at
// shutdown) and carry pre-votes.
func newFaultTransport(tr raft.Transport, f *faults) faultTransport {
	_ = tr.(raft.WithClose)
	_ = tr.(raft.WithPreVote)
	return faultTransport{tr, f}
}

func (t faultTransport) Close() error { return t.Transport.(raft.WithClose).Close() }

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
	return t.run(target, func() error { return t.Transport.(raft.WithPreVote).RequestPreVote(id, target, a, r) })
}

func (t faultTransport) TimeoutNow(id raft.ServerID, target raft.ServerAddress, a *raft.TimeoutNowRequest, r *raft.TimeoutNowResponse) error {
	return t.run(target, func() error { return t.Transport.TimeoutNow(id, target, a, r) })
}

func (t faultTransport) InstallSnapshot(id raft.ServerID, target raft.ServerAddress, a *raft.InstallSnapshotRequest, r *raft.InstallSnapshotResponse, data io.Reader) error {
	t.f.mu.Lock()
	t.f.snapSent[target] = max(t.f.snapSent[target], a.LastLogIndex)
	t.f.mu.Unlock()
	return t.run(target, func() error {
		err := t.Transport.InstallSnapshot(id, target, a, r, data)
		if err == nil && r.Success {
			t.f.mu.Lock()
			t.f.installs++
			t.f.mu.Unlock()
		}
		return err
	})
}

// lnZmpConfig is raft for the variants over zmp: timeouts of 300 ms,
// snapshots every 64 entries keeping 32, checked every 200-400 ms.
func lnZmpConfig(id string) *raft.Config {
	rc := trConfig(raft.ServerID(id))
	rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = 300*time.Millisecond, 300*time.Millisecond, 200*time.Millisecond
	rc.SnapshotThreshold, rc.TrailingLogs, rc.SnapshotInterval = 64, 32, 200*time.Millisecond
	return rc
}

// newLnZmpCluster is an lnCluster of n members on the zmp transport
// with CURVE and durable stores (a kvCluster). A member killed closes
// its node, store and peer; it restarts as TestKVOverZmp's does, on
// the same endpoint, key and directory (kvCluster.startNode).
//
// kv0 (and kv1 of five) store on raft-wal, the others on bbolt. Both
// backends go through kills and restarts, and snapshots get sent: a
// leader on raft-wal still reads the entries it compacted while they
// are in its open segment (64 MiB), so it sends AppendEntries where
// one on bbolt sends its snapshot. Schedules start with a leader on
// bbolt (sendsSnapshots).
func newLnZmpCluster(t *testing.T, n int, seed uint64) *lnCluster {
	f := newFaults(seed)
	kv := newKVClusterWith(t, &kvCluster{
		wrap:    func(tr *Transport) raft.Transport { return newFaultTransport(tr, f) },
		raftCfg: lnZmpConfig,
		stOpts: func(id string) []StoreOption {
			if id == "kv0" || (n > 3 && id == "kv1") {
				return []StoreOption{WithBackend(BackendWAL)}
			}
			return []StoreOption{WithBackend(BackendBolt)}
		},
	}, n)
	start := func(i int) *Node {
		if m := kv.members[i]; m.node != nil {
			return m.node // started by newKVClusterWith
		}
		kv.startNode(kv.members[i])
		return kv.members[i].node
	}
	stop := func(i int, _ *Node) { kv.stop(kv.members[i]) }
	c := newLnCluster(t, f, kv.servers, start, stop)
	c.sendsSnapshots = func(i int) bool { return i > 0 && !(n > 3 && i == 1) }
	return c
}

// TestLinearizableOverZmp is TestLinearizable on the zmp transport with
// CURVE and durable storage (raft-wal and bbolt, file snapshots), three
// members, seeds of 5 s (it does fewer operations a second).
func TestLinearizableOverZmp(t *testing.T) {
	lnRunSeeds(t, "over zmp, 3 members", 5*time.Second, func(t *testing.T, seed uint64) *lnCluster { return newLnZmpCluster(t, 3, seed) })
}

// TestLinearizableOverZmp5 is TestLinearizableOverZmp with five
// members.
func TestLinearizableOverZmp5(t *testing.T) {
	lnRunSeeds(t, "over zmp, 5 members", 5*time.Second, func(t *testing.T, seed uint64) *lnCluster { return newLnZmpCluster(t, 5, seed) })
}
