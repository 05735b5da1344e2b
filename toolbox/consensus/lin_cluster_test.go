package consensus

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// lnCluster is the cluster the linearizability tests drive: n members
// whose raft messages all go through one faults (cut links, losses,
// delays), and which a nemesis may kill and restart on the stores they
// had. Its nemesis methods (isolate, partition, kill, restart...) are
// called from the test goroutine only; the clients' methods (use,
// nodeList, anyLeader) from any goroutine.
type lnCluster struct {
	t       *testing.T
	f       *faults
	servers []raft.Server
	// start runs member i on its stores and returns its node; stop
	// closes member i's node and transport, keeping its stores.
	start func(i int) *Node
	stop  func(i int, nd *Node)
	// sendsSnapshots tells the members that, leading, send a snapshot
	// to a member their log no longer serves (nil: all).
	sendsSnapshots func(i int) bool

	mu              sync.Mutex
	nodes           []*Node // nil while the member is down
	inUse           map[*Node]int
	downAt          []lnDown
	kills, restarts int
}

// lnDown is when a member went down, and its last log index then.
type lnDown struct {
	at   time.Time
	last uint64
}

// newLnCluster starts every member and stops the live ones at cleanup.
func newLnCluster(t *testing.T, f *faults, servers []raft.Server, start func(int) *Node, stop func(int, *Node)) *lnCluster {
	c := &lnCluster{t: t, f: f, servers: servers, start: start, stop: stop, nodes: make([]*Node, len(servers)),
		inUse: map[*Node]int{}, downAt: make([]lnDown, len(servers))}
	for i := range servers {
		c.nodes[i] = start(i)
	}
	t.Cleanup(func() {
		for i, nd := range c.nodeSlots() {
			if nd != nil {
				c.quiesce(nd)
				stop(i, nd)
			}
		}
	})
	return c
}

// lnMemConfig is raft for the in-memory variants: fast timeouts so the
// nemesis causes many elections, and snapshots every 128 entries
// keeping 64, checked every 100-200 ms, so that a member down or cut
// off for a while is sent a snapshot when it returns.
func lnMemConfig() *raft.Config {
	rc := linFastConfig()
	rc.SnapshotThreshold, rc.TrailingLogs, rc.SnapshotInterval = 128, 64, 100*time.Millisecond
	return rc
}

// newLnMemCluster is an lnCluster of n members on raft's in-memory
// transport (wrapped in faults) and log store, and lnSnapStore. A
// member killed keeps its raft.InmemStore and lnSnapStore, and
// restarts on them with a new transport at its address.
func newLnMemCluster(t *testing.T, n int, seed uint64) *lnCluster {
	t.Helper()
	f := newFaults(seed)
	rc := lnMemConfig()
	var servers []raft.Server
	stores := make([]*raft.InmemStore, n)
	snaps := make([]*lnSnapStore, n)
	trans := make([]*raft.InmemTransport, n) // nil while down; test goroutine only
	for i := range n {
		id := fmt.Sprint("n", i)
		servers = append(servers, raft.Server{ID: raft.ServerID(id), Address: raft.ServerAddress(id)})
		stores[i], snaps[i] = raft.NewInmemStore(), &lnSnapStore{}
	}
	start := func(i int) *Node {
		_, tr := raft.NewInmemTransport(servers[i].Address)
		for j, o := range trans {
			if o != nil && j != i {
				tr.Connect(o.LocalAddr(), o)
				o.Connect(tr.LocalAddr(), tr)
			}
		}
		trans[i] = tr
		nd, err := NewNode(NodeConfig{ID: string(servers[i].ID), Transport: newFaultTransport(tr, f),
			Logs: stores[i], Stable: stores[i], Snapshots: snaps[i], Raft: rc, History: 1000, Bootstrap: servers})
		if err != nil {
			t.Fatal(err)
		}
		return nd
	}
	stop := func(i int, nd *Node) {
		nd.Close() // shuts raft down, which closes the transport
		for j, o := range trans {
			if o != nil && j != i {
				o.Disconnect(servers[i].Address)
			}
		}
		trans[i] = nil
	}
	return newLnCluster(t, f, servers, start, stop)
}

func (c *lnCluster) size() int { return len(c.servers) }

// nodeSlots returns every member's node, nil for those down.
func (c *lnCluster) nodeSlots() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Node(nil), c.nodes...)
}

// nodeList returns the nodes running now.
func (c *lnCluster) nodeList() []*Node {
	var out []*Node
	for _, nd := range c.nodeSlots() {
		if nd != nil {
			out = append(out, nd)
		}
	}
	return out
}

// use returns the running node pick chooses among the running ones (nil
// for none) and a func to call once done with it: a member is not
// killed while a client uses it (see quiesce).
func (c *lnCluster) use(pick func(running []*Node) *Node) (*Node, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var running []*Node
	for _, nd := range c.nodes {
		if nd != nil {
			running = append(running, nd)
		}
	}
	nd := pick(running)
	if nd == nil {
		return nil, func() {}
	}
	c.inUse[nd]++
	return nd, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.inUse[nd]--
	}
}

// quiesce waits until no client uses nd and no linearizable read is
// being confirmed on it. raft's VerifyLeader, called as raft shuts
// down, may queue a future that no one answers (raft v1.7.3 drains no
// verifyCh). Close no longer waits for it (Node.await), but the
// goroutine left waiting on it lives on, and goleak would report it:
// so kills come between a node's operations.
func (c *lnCluster) quiesce(nd *Node) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		c.mu.Lock()
		used := c.inUse[nd]
		c.mu.Unlock()
		nd.reads.mu.Lock()
		reading := nd.reads.running
		nd.reads.mu.Unlock()
		if used == 0 && !reading {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s still in use (%d clients, reads %v) after 30 s", nd.ID(), used, reading)
		}
		time.Sleep(time.Millisecond)
	}
}

// anyLeader returns a running node that leads now, or nil.
func (c *lnCluster) anyLeader() *Node {
	for _, nd := range c.nodeList() {
		if nd.IsLeader() {
			return nd
		}
	}
	return nil
}

// leader waits for one of the nodes given (the running ones when none)
// to lead.
func (c *lnCluster) leader(among ...*Node) *Node {
	c.t.Helper()
	var l *Node
	trWaitFor(c.t, 60*time.Second, "a leader", func() bool {
		list := among
		if len(list) == 0 {
			list = c.nodeList()
		}
		for _, nd := range list {
			if nd.IsLeader() {
				l = nd
				return true
			}
		}
		return false
	})
	return l
}

// index returns nd's member index, -1 when it runs no more.
func (c *lnCluster) index(nd *Node) int {
	for i, o := range c.nodeSlots() {
		if o == nd && nd != nil {
			return i
		}
	}
	return -1
}

// down counts the members down.
func (c *lnCluster) down() int {
	n := 0
	for _, nd := range c.nodeSlots() {
		if nd == nil {
			n++
		}
	}
	return n
}

// cutBetween cuts every link between members of a and members of b,
// both ways.
func (c *lnCluster) cutBetween(a, b []int) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	for _, i := range a {
		for _, j := range b {
			if i != j {
				x, y := c.servers[i].Address, c.servers[j].Address
				c.f.cut[[2]raft.ServerAddress{x, y}] = true
				c.f.cut[[2]raft.ServerAddress{y, x}] = true
			}
		}
	}
}

// isolate cuts nd off from every other member.
func (c *lnCluster) isolate(nd *Node) {
	if i := c.index(nd); i >= 0 {
		all := make([]int, c.size())
		for j := range all {
			all[j] = j
		}
		c.cutBetween([]int{i}, all)
	}
}

// partition splits the members in two at random, a minority of one up
// to (n-1)/2 members and the rest, and cuts every link between them.
func (c *lnCluster) partition(r *rand.Rand) {
	perm := r.Perm(c.size())
	k := 1 + r.IntN((c.size()-1)/2)
	c.cutBetween(perm[:k], perm[k:])
}

// leadForSnapshots moves leadership, if need be, to a member that sends
// snapshots, waiting up to 10 s. Leadership may still move after.
func (c *lnCluster) leadForSnapshots() {
	if c.sendsSnapshots == nil {
		return
	}
	l := c.leader()
	if c.sendsSnapshots(c.index(l)) {
		return
	}
	for i, s := range c.servers {
		if c.sendsSnapshots(i) {
			l.raft.LeadershipTransferToServer(s.ID, s.Address).Error()
			break
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if l := c.anyLeader(); l != nil && c.sendsSnapshots(c.index(l)) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// killFollower kills a random member that does not lead.
func (c *lnCluster) killFollower(r *rand.Rand) {
	var fs []*Node
	for _, nd := range c.nodeList() {
		if !nd.IsLeader() {
			fs = append(fs, nd)
		}
	}
	if len(fs) > 0 {
		c.kill(fs[r.IntN(len(fs))])
	}
}

// heal restores every link and ends drops and delays.
func (c *lnCluster) heal() {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	clear(c.f.cut)
	c.f.drop, c.f.maxDelay = 0, 0
}

// chaos makes 5-20% of messages lost (the request, or the answer after
// the receiver acted on it) and delays every message by up to 1-20 ms,
// which reorders them.
func (c *lnCluster) chaos(r *rand.Rand) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	c.f.drop = 0.05 + 0.15*r.Float64()
	c.f.maxDelay = time.Duration(1+r.IntN(20)) * time.Millisecond
}

// kill stops nd (its raft, its transport), keeping its stores, unless a
// minority of the members is down already. Cut links are healed first:
// a crash takes the place of the network's faults, so that a majority
// can go on without the member.
func (c *lnCluster) kill(nd *Node) {
	if nd == nil || c.down() >= (c.size()-1)/2 {
		return
	}
	c.heal()
	down := lnDown{at: time.Now(), last: nd.raft.LastIndex()}
	c.mu.Lock()
	i := -1
	for j, o := range c.nodes {
		if o == nd {
			i, c.nodes[j], c.downAt[j] = j, nil, down
		}
	}
	c.mu.Unlock()
	if i >= 0 {
		c.quiesce(nd)
		c.stop(i, nd)
		c.kills++
	}
}

// downFor returns the members down, with how long they have been and
// whether the leader (if any) would have to send them a snapshot: its
// log no longer holds their last entry.
func (c *lnCluster) downFor() (downs []int, since []time.Duration, lagging []bool) {
	l := c.anyLeader()
	for i, nd := range c.nodeSlots() {
		if nd != nil {
			continue
		}
		c.mu.Lock()
		d := c.downAt[i]
		c.mu.Unlock()
		var e raft.Log
		downs = append(downs, i)
		since = append(since, time.Since(d.at))
		lagging = append(lagging, l != nil && errors.Is(l.logs.GetLog(d.last, &e), raft.ErrLogNotFound))
	}
	return downs, since, lagging
}

// returnLagging restarts the members down that the leader would have to
// send a snapshot.
func (c *lnCluster) returnLagging() {
	downs, _, lagging := c.downFor()
	for k, i := range downs {
		if lagging[k] {
			c.restartMember(i)
		}
	}
}

// restart restarts a random member among those down for 1 s or more.
func (c *lnCluster) restart(r *rand.Rand) {
	downs, since, _ := c.downFor()
	var ready []int
	for k, i := range downs {
		if since[k] >= time.Second {
			ready = append(ready, i)
		}
	}
	if len(ready) > 0 {
		c.restartMember(ready[r.IntN(len(ready))])
	}
}

func (c *lnCluster) restartMember(i int) {
	nd := c.start(i)
	c.mu.Lock()
	c.nodes[i] = nd
	c.mu.Unlock()
	c.restarts++
}

// restartAll starts every member that is down.
func (c *lnCluster) restartAll() {
	for i, nd := range c.nodeSlots() {
		if nd == nil {
			c.restartMember(i)
		}
	}
}

// lnSnapStore is an in-memory raft.SnapshotStore keeping the latest
// complete snapshot. (raft.InmemSnapshotStore makes a snapshot its
// latest when it is created, before it is written: raft sending it
// meanwhile reads part of it, which the race detector reports, and a
// member killed while writing one would restart from part of it.)
type lnSnapStore struct {
	mu   sync.Mutex
	meta *raft.SnapshotMeta // nil for none
	data []byte             // never modified once stored
	ids  int
}

type lnSnapSink struct {
	s    *lnSnapStore
	meta raft.SnapshotMeta
	buf  bytes.Buffer
}

func (s *lnSnapStore) Create(version raft.SnapshotVersion, index, term uint64, cfg raft.Configuration, cfgIndex uint64, _ raft.Transport) (raft.SnapshotSink, error) {
	if version != 1 {
		return nil, fmt.Errorf("snapshot version %d", version)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids++
	return &lnSnapSink{s: s, meta: raft.SnapshotMeta{Version: version, ID: fmt.Sprintf("%d-%d-%d", term, index, s.ids),
		Index: index, Term: term, Configuration: cfg, ConfigurationIndex: cfgIndex}}, nil
}

func (s *lnSnapStore) List() ([]*raft.SnapshotMeta, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.meta == nil {
		return nil, nil
	}
	m := *s.meta
	return []*raft.SnapshotMeta{&m}, nil
}

func (s *lnSnapStore) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.meta == nil || s.meta.ID != id {
		return nil, nil, fmt.Errorf("no snapshot %s", id)
	}
	m := *s.meta
	return &m, io.NopCloser(bytes.NewReader(s.data)), nil
}

func (k *lnSnapSink) Write(p []byte) (int, error) {
	k.meta.Size += int64(len(p))
	return k.buf.Write(p)
}

// Close stores the snapshot as the latest.
func (k *lnSnapSink) Close() error {
	k.s.mu.Lock()
	defer k.s.mu.Unlock()
	k.s.meta, k.s.data = &k.meta, k.buf.Bytes()
	return nil
}

func (k *lnSnapSink) ID() string    { return k.meta.ID }
func (k *lnSnapSink) Cancel() error { return nil }

// describe reports every member's raft state, for a failure.
func (c *lnCluster) describe() string {
	var b strings.Builder
	for i, nd := range c.nodeSlots() {
		if nd == nil {
			fmt.Fprintf(&b, "\n%s: down", c.servers[i].ID)
			continue
		}
		s := nd.raft.Stats()
		first, _ := nd.logs.FirstIndex()
		fmt.Fprintf(&b, "\n%s: %s term %s, log %d-%s, commit %s, applied %s, snapshot %s, revision %d, last contact %s, floor %d",
			nd.ID(), s["state"], s["term"], first, s["last_log_index"], s["commit_index"], s["applied_index"],
			s["last_snapshot_index"], nd.Revision(), s["last_contact"], c.f.snapshotFloor(c.servers[i].Address))
	}
	return b.String()
}
