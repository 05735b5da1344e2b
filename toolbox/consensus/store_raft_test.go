package consensus

import (
	"encoding/binary"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// stCounterFSM adds each applied 8-byte big-endian value to a sum. It
// records what a restart restored and how many entries it applied since.
type stCounterFSM struct {
	mu       sync.Mutex
	sum      uint64
	applied  int    // Apply calls since creation or the last Restore
	restored uint64 // sum the last Restore loaded
	restores int
}

func (f *stCounterFSM) Apply(l *raft.Log) any {
	if len(l.Data) != 8 {
		return errors.New("bad command")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sum += binary.BigEndian.Uint64(l.Data)
	f.applied++
	return f.sum
}

func (f *stCounterFSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return stCounterSnapshot(f.sum), nil
}

func (f *stCounterFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var b [8]byte
	if _, err := io.ReadFull(rc, b[:]); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sum = binary.BigEndian.Uint64(b[:])
	f.restored, f.applied = f.sum, 0
	f.restores++
	return nil
}

// state returns sum, applied, restored and restores.
func (f *stCounterFSM) state() (uint64, int, uint64, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sum, f.applied, f.restored, f.restores
}

type stCounterSnapshot uint64

func (s stCounterSnapshot) Persist(sink raft.SnapshotSink) error {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(s))
	if _, err := sink.Write(b[:]); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (stCounterSnapshot) Release() {}

// stRaftConfig is a raft config with test-friendly timeouts: generous,
// since the machine is loaded, and no automatic snapshots.
func stRaftConfig(id string) *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = raft.ServerID(id)
	c.HeartbeatTimeout = time.Second
	c.ElectionTimeout = time.Second
	c.LeaderLeaseTimeout = 500 * time.Millisecond
	c.SnapshotThreshold = 1 << 30
	c.SnapshotInterval = time.Hour
	c.Logger = stQuietLogger()
	return c
}

// stNode is a single-node raft on a Store over an in-memory transport.
type stNode struct {
	raft  *raft.Raft
	fsm   *stCounterFSM
	trans *raft.InmemTransport
}

func stStartNode(t *testing.T, s *Store, addr raft.ServerAddress) *stNode {
	t.Helper()
	_, trans := raft.NewInmemTransport(addr)
	fsm := &stCounterFSM{}
	r, err := raft.NewRaft(stRaftConfig("n1"), fsm, s.Log(), s.Stable(), s.Snapshots(), trans)
	if err != nil {
		trans.Close()
		t.Fatalf("NewRaft: %v", err)
	}
	return &stNode{raft: r, fsm: fsm, trans: trans}
}

func (n *stNode) stop(t *testing.T) {
	t.Helper()
	if err := n.raft.Shutdown().Error(); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	n.trans.Close()
}

// stWaitFor polls cond until it holds or 60 s pass.
func stWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func stApply(t *testing.T, r *raft.Raft, from, to uint64) {
	t.Helper()
	for v := from; v <= to; v++ {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], v)
		if err := r.Apply(b[:], 30*time.Second).Error(); err != nil {
			t.Fatalf("Apply(%d): %v", v, err)
		}
	}
}

// TestStoreRaftRestart runs a single-node raft on a Store, applies 1..50,
// snapshots, applies 51..80, stops, and starts a new raft on the reopened
// Store: its FSM must be restored from the snapshot (sum of 1..50) and
// then replay the 30 later entries from the log (sum of 1..80).
func TestStoreRaftRestart(t *testing.T) {
	const addr = raft.ServerAddress("n1")
	for _, b := range stBackends() {
		t.Run(b.String(), func(t *testing.T) {
			dir := t.TempDir()
			s, err := OpenStore(dir, WithBackend(b))
			stMust(t, err)
			n := stStartNode(t, s, addr)
			boot := raft.Configuration{Servers: []raft.Server{{ID: "n1", Address: addr}}}
			stMust(t, n.raft.BootstrapCluster(boot).Error())
			stWaitFor(t, "leadership", func() bool { return n.raft.State() == raft.Leader })
			stApply(t, n.raft, 1, 50)
			stMust(t, n.raft.Snapshot().Error())
			stApply(t, n.raft, 51, 80)
			n.stop(t)
			stMust(t, s.Close())

			s = stOpen(t, dir, WithBackend(b))
			has, err := raft.HasExistingState(s.Log(), s.Stable(), s.Snapshots())
			stMust(t, err)
			if !has {
				t.Fatal("reopened store has no raft state")
			}
			n = stStartNode(t, s, addr)
			defer n.stop(t)
			stWaitFor(t, "log replay", func() bool { sum, _, _, _ := n.fsm.state(); return sum == 80*81/2 })
			_, applied, restored, restores := n.fsm.state()
			if restores != 1 || restored != 50*51/2 || applied != 30 {
				t.Fatalf("restores %d restored %d applied %d; want 1, %d, 30", restores, restored, applied, 50*51/2)
			}
			stApply(t, n.raft, 81, 81) // and it still takes writes
		})
	}
}
