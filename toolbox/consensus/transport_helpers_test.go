package consensus

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// trEnv is one test's zmp world: a registry and the peers made in it,
// all of one transport (tcp or ipc).
type trEnv struct {
	t   testing.TB
	tr  core.Transport
	reg *core.MemRegistry
	dir string
}

func trEachTransport(t *testing.T, f func(t *testing.T, e *trEnv)) {
	for _, tr := range []core.Transport{core.TCP, core.IPC} {
		t.Run(string(tr), func(t *testing.T) { f(t, trNewEnv(t, tr)) })
	}
}

func trNewEnv(t testing.TB, tr core.Transport) *trEnv {
	return &trEnv{t: t, tr: tr, reg: core.NewMemRegistry(), dir: t.TempDir()}
}

// peer starts a peer closed at the test's end.
func (e *trEnv) peer(name string, extra ...core.Option) *core.Peer {
	e.t.Helper()
	opts := []core.Option{core.WithRegistry(e.reg), core.WithTransport(e.tr),
		core.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}
	if e.tr == core.IPC {
		opts = append(opts, core.WithRuntimeDir(e.dir))
	}
	p, err := core.NewPeer(context.Background(), name, append(opts, extra...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { p.Close() })
	return p
}

// transport starts a transport on p, closed at the test's end.
func (e *trEnv) transport(p *core.Peer, opts ...TransportOption) *Transport {
	e.t.Helper()
	tr, err := NewTransport(p, opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { tr.Close() })
	return tr
}

func trCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// trWaitFor polls cond until it holds or timeout passes.
func trWaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func trCurveSecurity(t testing.TB, kp core.KeyPair, trusted ...core.Key) core.Security {
	t.Helper()
	auth, err := core.NewAuthenticator(core.AllowKeys(trusted...), core.WithAuthLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	return core.Curve(kp, auth)
}

func trKeys(t testing.TB) core.KeyPair {
	t.Helper()
	kp, err := core.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

// trFSM is a trivial state machine: it counts the commands applied and
// keeps the last; a command "blob:N" sets the size of a blob that its
// snapshots carry (made of a pattern, generated while written, checked
// while read, so a large snapshot costs no memory).
type trFSM struct {
	mu       sync.Mutex
	applied  uint64
	last     string
	blob     int64
	restored int64 // blob size of the last snapshot restored; -1 none
	// restoreDelay makes Restore take at least this long.
	restoreDelay time.Duration
}

func trNewFSM() *trFSM { return &trFSM{restored: -1} }

func (f *trFSM) Apply(l *raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied++
	f.last = string(l.Data)
	if n, ok := bytes.CutPrefix(l.Data, []byte("blob:")); ok {
		f.blob, _ = strconv.ParseInt(string(n), 10, 64)
	}
	return f.applied
}

func (f *trFSM) state() (applied uint64, last string, restored int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applied, f.last, f.restored
}

func (f *trFSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &trSnapshot{applied: f.applied, last: f.last, blob: f.blob}, nil
}

func (f *trFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	start := time.Now()
	var hdr [24]byte
	if _, err := io.ReadFull(rc, hdr[:]); err != nil {
		return err
	}
	applied, blob, lastLen := binary.BigEndian.Uint64(hdr[:]), int64(binary.BigEndian.Uint64(hdr[8:])), binary.BigEndian.Uint64(hdr[16:])
	if lastLen > 1<<20 {
		return fmt.Errorf("bad snapshot: last %d bytes", lastLen)
	}
	last := make([]byte, lastLen)
	if _, err := io.ReadFull(rc, last); err != nil {
		return err
	}
	if err := trCheckPattern(rc, blob); err != nil {
		return err
	}
	if d := f.restoreDelay - time.Since(start); d > 0 {
		time.Sleep(d)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied, f.last, f.blob, f.restored = applied, string(last), blob, blob
	return nil
}

type trSnapshot struct {
	applied uint64
	last    string
	blob    int64
}

func (s *trSnapshot) Persist(sink raft.SnapshotSink) error {
	var hdr [24]byte
	binary.BigEndian.PutUint64(hdr[:], s.applied)
	binary.BigEndian.PutUint64(hdr[8:], uint64(s.blob))
	binary.BigEndian.PutUint64(hdr[16:], uint64(len(s.last)))
	_, err := sink.Write(hdr[:])
	if err == nil {
		_, err = io.WriteString(sink, s.last)
	}
	if err == nil {
		_, err = io.Copy(sink, trPattern(s.blob))
	}
	if err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *trSnapshot) Release() {}

// trPattern reads n bytes of a fixed pattern (byte i is i*7 mod 251).
func trPattern(n int64) io.Reader { return &trPatternReader{left: n} }

type trPatternReader struct{ off, left int64 }

func (r *trPatternReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	for i := range p {
		p[i] = byte((r.off + int64(i)) * 7 % 251)
	}
	r.off += int64(len(p))
	r.left -= int64(len(p))
	return len(p), nil
}

// trCheckPattern reads r to its end and checks it is n bytes of the
// pattern.
func trCheckPattern(r io.Reader, n int64) error {
	buf := make([]byte, 64<<10)
	var off int64
	for {
		k, err := r.Read(buf)
		for i := range buf[:k] {
			if buf[i] != byte((off+int64(i))*7%251) {
				return fmt.Errorf("snapshot blob differs at byte %d", off+int64(i))
			}
		}
		off += int64(k)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	if off != n {
		return fmt.Errorf("snapshot blob of %d bytes, want %d", off, n)
	}
	return nil
}

// trNode is one member of a test raft cluster.
type trNode struct {
	id     raft.ServerID
	peer   *core.Peer
	trans  *Transport
	raft   *raft.Raft
	fsm    *trFSM
	logs   *raft.InmemStore
	snaps  raft.SnapshotStore
	config *raft.Config
}

// trConfig is raft's configuration for tests: generous timeouts on a
// loaded machine, no automatic snapshots, a silent logger.
func trConfig(id raft.ServerID) *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = id
	c.HeartbeatTimeout = time.Second
	c.ElectionTimeout = time.Second
	c.LeaderLeaseTimeout = 500 * time.Millisecond
	c.CommitTimeout = 20 * time.Millisecond
	c.SnapshotThreshold = 1 << 40
	c.SnapshotInterval = time.Hour
	c.Logger = hclog.New(&hclog.LoggerOptions{Output: io.Discard, Level: hclog.Off})
	return c
}

// trClusterOpts shape a test cluster.
type trClusterOpts struct {
	n         int
	peerOpts  func(i int) []core.Option // extra options of member i's peer
	transOpts []TransportOption
	config    func(c *raft.Config)
	fileSnaps bool // FileSnapshotStore instead of InmemSnapshotStore
}

type trCluster struct {
	t     testing.TB
	e     *trEnv
	nodes []*trNode
}

// trStartCluster starts n members, bootstraps them as one cluster and
// waits for a leader. Every raft is shut down at the test's end.
func trStartCluster(t testing.TB, e *trEnv, o trClusterOpts) *trCluster {
	t.Helper()
	c := &trCluster{t: t, e: e}
	var servers []raft.Server
	for i := 0; i < o.n; i++ {
		var popts []core.Option
		if o.peerOpts != nil {
			popts = o.peerOpts(i)
		}
		n := &trNode{id: raft.ServerID(fmt.Sprintf("n%d", i)), fsm: trNewFSM(), logs: raft.NewInmemStore()}
		n.peer = e.peer(string(n.id), popts...)
		if o.fileSnaps {
			fs, err := raft.NewFileSnapshotStoreWithLogger(filepath.Join(e.dir, string(n.id)), 1, hclog.NewNullLogger())
			if err != nil {
				t.Fatal(err)
			}
			n.snaps = fs
		} else {
			n.snaps = raft.NewInmemSnapshotStore()
		}
		n.config = trConfig(n.id)
		if o.config != nil {
			o.config(n.config)
		}
		c.nodes = append(c.nodes, n)
		c.start(n, o.transOpts...)
		servers = append(servers, raft.Server{ID: n.id, Address: n.trans.LocalAddr()})
	}
	if err := c.nodes[0].raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
		t.Fatal(err)
	}
	c.leader(60 * time.Second)
	return c
}

// start starts n's transport and raft on its peer and stores.
func (c *trCluster) start(n *trNode, opts ...TransportOption) {
	c.t.Helper()
	tr, err := NewTransport(n.peer, opts...)
	if err != nil {
		c.t.Fatal(err)
	}
	n.trans = tr
	r, err := raft.NewRaft(n.config, n.fsm, n.logs, n.logs, n.snaps, tr)
	if err != nil {
		tr.Close()
		c.t.Fatal(err)
	}
	n.raft = r
	c.t.Cleanup(func() { r.Shutdown().Error() })
}

// stop shuts n's raft down (which closes its transport); its peer and
// stores stay.
func (c *trCluster) stop(n *trNode) {
	c.t.Helper()
	if err := n.raft.Shutdown().Error(); err != nil {
		c.t.Fatal(err)
	}
}

// leader waits until one running member is leader and the others that
// run know it, and returns it.
func (c *trCluster) leader(timeout time.Duration) *trNode {
	c.t.Helper()
	var leader *trNode
	trWaitFor(c.t, timeout, "a leader", func() bool {
		leader = nil
		for _, n := range c.nodes {
			if n.raft.State() == raft.Leader {
				leader = n
			}
		}
		if leader == nil {
			return false
		}
		for _, n := range c.nodes {
			if st := n.raft.State(); st == raft.Shutdown {
				continue
			}
			if _, id := n.raft.LeaderWithID(); id != leader.id {
				return false
			}
		}
		return true
	})
	return leader
}

// apply applies cmd on leader, retrying on a leadership change until
// timeout.
func (c *trCluster) apply(cmd string, timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		l := c.leader(time.Until(deadline))
		err := l.raft.Apply([]byte(cmd), 10*time.Second).Error()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("apply %q: %v", cmd, err)
		}
	}
}

// waitApplied waits until every running member's FSM has applied n
// commands.
func (c *trCluster) waitApplied(n uint64, timeout time.Duration) {
	c.t.Helper()
	trWaitFor(c.t, timeout, fmt.Sprintf("%d applies on every member", n), func() bool {
		for _, m := range c.nodes {
			if m.raft.State() == raft.Shutdown {
				continue
			}
			if a, _, _ := m.fsm.state(); a < n {
				return false
			}
		}
		return true
	})
}
