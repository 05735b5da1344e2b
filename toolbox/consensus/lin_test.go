package consensus

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/hashicorp/raft"
)

// Linearizability: clients run gets, puts, deletes and compare-and-
// swaps on a few keys of an in-memory cluster while a nemesis cuts and
// heals links and moves leadership; porcupine checks the recorded
// history against a sequential model. ZMP_LIN_SEEDS and
// ZMP_LIN_DURATION lengthen the run (make consensus-long).

type linInput struct {
	op       string // get, put, del, cas
	key      string
	value    string // put, cas: the value written (unique per write)
	expected string // cas: the value it must hold ("" for absent)
}

type linOutput struct {
	value   string // get: the value, "" for absent
	ok      bool   // cas: it applied
	unknown bool   // a write whose outcome the client did not learn
}

// linModel is one key's register; values are unique per write, so a
// compare-and-swap on the ModRev a client read is one on the value.
var linModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, op := range h {
			k := op.Input.(linInput).key
			byKey[k] = append(byKey[k], op)
		}
		var out [][]porcupine.Operation
		for _, ops := range byKey {
			out = append(out, ops)
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		cur, in, out := state.(string), input.(linInput), output.(linOutput)
		switch in.op {
		case "get":
			return out.value == cur, cur
		case "put":
			return true, in.value
		case "del":
			return true, ""
		default: // cas
			match := cur == in.expected
			if out.unknown {
				if match {
					return true, in.value // it may have applied...
				}
				return true, cur
			}
			if out.ok != match {
				return false, cur
			}
			if match {
				return true, in.value
			}
			return true, cur
		}
	},
	DescribeOperation: func(input, output any) string {
		return fmt.Sprintf("%+v -> %+v", input, output)
	},
}

// linHistory records operations from several clients.
type linHistory struct {
	mu    sync.Mutex
	start time.Time
	ops   []porcupine.Operation
}

func (h *linHistory) add(client int, in linInput, out linOutput, call, ret time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := ret.Sub(h.start).Nanoseconds()
	if out.unknown {
		r = math.MaxInt64 // it may take effect at any time from now on
	}
	h.ops = append(h.ops, porcupine.Operation{ClientId: max(client, 0), Input: in, Output: out, Call: call.Sub(h.start).Nanoseconds(), Return: r})
}

// linCluster is what the linearizability test drives: a cluster whose
// links a nemesis can cut and heal.
type linCluster interface {
	nodeList() []*Node
	anyLeader() *Node
	leader(among ...*Node) *Node
	isolate(nd *Node)
	heal()
	// chaos may add faults of the cluster's own (drops, delays).
	chaos(r *rand.Rand)
}

func (c *memCluster) nodeList() []*Node { return c.nodes }
func (c *memCluster) chaos(*rand.Rand)  {}

// linFastConfig is raft with fast timeouts: the nemesis should cause
// many elections.
func linFastConfig() *raft.Config {
	rc := nodeTestConfig()
	rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = 150*time.Millisecond, 150*time.Millisecond, 100*time.Millisecond
	return rc
}

// linRun runs one seed on an in-memory cluster.
func linRun(t *testing.T, seed uint64, d time.Duration, stale bool) (porcupine.CheckResult, int) {
	return linRunOn(t, newMemClusterConfig(t, 3, linFastConfig()), seed, d, stale)
}

// linRunOn runs one seed on c: clients and a nemesis for d; stale makes
// the clients read stale from a random node, which the checker must
// catch.
func linRunOn(t *testing.T, c linCluster, seed uint64, d time.Duration, stale bool) (porcupine.CheckResult, int) {
	c.leader()
	h := &linHistory{start: time.Now()}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	var writes int64
	var wmu sync.Mutex
	for client := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, uint64(client)))
			for ctx.Err() == nil {
				wmu.Lock()
				writes++
				v := fmt.Sprintf("c%d-%d", client, writes)
				wmu.Unlock()
				linStep(c, h, r, client, v, stale)
			}
		}()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		linNemesis(ctx, c, rand.New(rand.NewPCG(seed, 99)))
	}()
	terms := &termLog{leaders: map[uint64]string{}}
	go func() {
		defer wg.Done()
		terms.watch(ctx, t, c)
	}()
	wg.Wait()
	c.heal()
	linFinal(t, c, h)
	res := porcupine.CheckOperationsTimeout(linModel, h.ops, 30*time.Second)
	t.Logf("seed %d: %d terms with a leader", seed, terms.count())
	return res, len(h.ops)
}

// linFinal, after healing: the last state of every key is read into the
// history (every acknowledged write must show in it), and the replicas
// converge to identical states.
func linFinal(t *testing.T, c linCluster, h *linHistory) {
	l := c.leader()
	ctx := testCtx(t, 30*time.Second)
	rev, err := l.Put(ctx, "sync", nil, 0) // commits everything before it
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		key := fmt.Sprint("k", i)
		call := time.Now()
		e, found, err := l.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		val := ""
		if found {
			val = string(e.Value)
		}
		h.add(-1, linInput{op: "get", key: key}, linOutput{value: val}, call, time.Now())
	}
	for _, nd := range c.nodeList() {
		waitFor(t, 30*time.Second, "replica "+nd.ID()+" catches up", func() bool { return nd.Revision() >= rev })
	}
	want := snapshotBytes(t, l.st)
	for _, nd := range c.nodeList() {
		if nd.Revision() == l.Revision() {
			if got := snapshotBytes(t, nd.st); string(got) != string(want) {
				t.Fatalf("replica %s differs from the leader at revision %d", nd.ID(), nd.Revision())
			}
		}
	}
}

// termLog samples who leads in which term: two leaders of one term
// would be a safety violation.
type termLog struct {
	mu      sync.Mutex
	leaders map[uint64]string
}

func (l *termLog) watch(ctx context.Context, t *testing.T, c linCluster) {
	for ctx.Err() == nil {
		for _, nd := range c.nodeList() {
			before := nd.raft.CurrentTerm()
			if !nd.IsLeader() || nd.raft.CurrentTerm() != before {
				continue
			}
			l.mu.Lock()
			if other, ok := l.leaders[before]; ok && other != nd.ID() {
				t.Errorf("term %d has two leaders: %s and %s", before, other, nd.ID())
			}
			l.leaders[before] = nd.ID()
			l.mu.Unlock()
		}
		time.Sleep(time.Millisecond)
	}
}

func (l *termLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.leaders)
}

// linStep runs one random operation against the node that leads now.
func linStep(c linCluster, h *linHistory, r *rand.Rand, client int, v string, stale bool) {
	key := fmt.Sprint("k", r.IntN(3))
	nd := c.anyLeader()
	if nd == nil {
		time.Sleep(10 * time.Millisecond)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	call := time.Now()
	switch op := r.IntN(10); {
	case op < 4:
		var e Entry
		var found bool
		var err error
		if stale {
			nodes := c.nodeList()
			e, found, err = nodes[r.IntN(len(nodes))].Get(ctx, key, Stale())
		} else {
			e, found, err = nd.Get(ctx, key)
		}
		if err != nil {
			return // a read that failed did nothing
		}
		val := ""
		if found {
			val = string(e.Value)
		}
		h.add(client, linInput{op: "get", key: key}, linOutput{value: val}, call, time.Now())
	case op < 7:
		_, err := nd.Put(ctx, key, []byte(v), 0)
		h.add(client, linInput{op: "put", key: key, value: v}, linOutput{unknown: err != nil}, call, time.Now())
	case op < 8:
		_, _, err := nd.Delete(ctx, key)
		h.add(client, linInput{op: "del", key: key}, linOutput{unknown: err != nil}, call, time.Now())
	default:
		// Read, then swap on what was read: the read is an operation
		// of its own, the swap names the value it expects.
		e, found, err := nd.Get(ctx, key)
		if err != nil {
			return
		}
		exp := ""
		if found {
			exp = string(e.Value)
		}
		h.add(client, linInput{op: "get", key: key}, linOutput{value: exp}, call, time.Now())
		call = time.Now()
		var mod uint64
		if found {
			mod = e.ModRev
		}
		ok, _, _, err := nd.CompareAndSwap(ctx, key, mod, []byte(v), 0)
		h.add(client, linInput{op: "cas", key: key, value: v, expected: exp}, linOutput{ok: ok, unknown: err != nil}, call, time.Now())
	}
}

// linNemesis cuts and heals links and moves leadership until ctx ends.
func linNemesis(ctx context.Context, c linCluster, r *rand.Rand) {
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(100+r.IntN(400)) * time.Millisecond):
		}
		switch r.IntN(5) {
		case 0:
			if l := c.anyLeader(); l != nil {
				c.isolate(l)
			}
		case 1:
			nodes := c.nodeList()
			c.isolate(nodes[r.IntN(len(nodes))])
		case 4:
			c.chaos(r)
		case 2:
			if l := c.anyLeader(); l != nil {
				l.raft.LeadershipTransfer()
			}
		default:
			c.heal()
		}
	}
}

func linSeeds(t *testing.T) (seeds int, d time.Duration) {
	seeds, d = 3, 3*time.Second
	if s := os.Getenv("ZMP_LIN_SEEDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		seeds = n
	}
	if s := os.Getenv("ZMP_LIN_DURATION"); s != "" {
		v, err := time.ParseDuration(s)
		if err != nil {
			t.Fatal(err)
		}
		d = v
	}
	return seeds, d
}

// TestLinearizable checks the recorded histories of fixed seeds.
func TestLinearizable(t *testing.T) {
	seeds, d := linSeeds(t)
	total := 0
	for seed := range uint64(seeds) {
		res, n := linRun(t, seed+1, d, false)
		total += n
		if res == porcupine.Illegal {
			t.Fatalf("seed %d: the history of %d operations is not linearizable", seed+1, n)
		}
		if n < 50 {
			t.Fatalf("seed %d: only %d operations: the test does not exercise the store", seed+1, n)
		}
		t.Logf("seed %d: %d operations, %v", seed+1, n, res)
	}
	t.Logf("%d seeds of %v, %d operations checked", seeds, d, total)
}

// TestLinearizableCheckerBites: reads served stale from a random node
// must be caught in most seeds, or the checker proves nothing.
func TestLinearizableCheckerBites(t *testing.T) {
	const seeds = 4
	caught := 0
	for seed := range uint64(seeds) {
		if res, _ := linRun(t, 100+seed, 2*time.Second, true); res == porcupine.Illegal {
			caught++
		}
	}
	if caught < seeds/2+1 {
		t.Fatalf("stale reads caught in %d of %d seeds", caught, seeds)
	}
	t.Logf("stale reads caught in %d of %d seeds", caught, seeds)
}
