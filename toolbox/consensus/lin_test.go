package consensus

import (
	"context"
	"errors"
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
// swaps on a few keys of a cluster while a nemesis cuts and heals
// links, splits the cluster, drops and delays messages, moves
// leadership, and kills members and restarts them on their stores;
// porcupine checks the recorded history against a sequential model,
// and after each schedule lnAuditor and lnCheckFinal check the raft
// logs and the acknowledged writes. ZMP_LIN_SEEDS and ZMP_LIN_DURATION
// lengthen the run (make consensus-long).

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

// linHistory records operations from several clients, and every write
// with its outcome for lnCheckFinal.
type linHistory struct {
	mu     sync.Mutex
	start  time.Time
	ops    []porcupine.Operation
	writes []lnWrite
}

// lnWrite is a write as its client saw it end.
type lnWrite struct {
	op     opCode // opPut, opDelete or opCAS
	key    string
	value  string // put, cas: unique per write
	modRev uint64 // cas: the ModRev it expects
	// acked: the call returned no error, so the write is the command
	// at index rev; changed: it changed the key (any put, a delete
	// that found the key, a compare-and-swap that matched). A write
	// not acked may have applied at any index, or not at all.
	acked   bool
	rev     uint64
	changed bool
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

func (h *linHistory) addWrite(w lnWrite) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.writes = append(h.writes, w)
}

// linFastConfig is raft with fast timeouts: the nemesis should cause
// many elections.
func linFastConfig() *raft.Config {
	rc := nodeTestConfig()
	rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = 150*time.Millisecond, 150*time.Millisecond, 100*time.Millisecond
	return rc
}

// lnStats is what one seed did and what its checks covered.
type lnStats struct {
	res                       porcupine.CheckResult
	ops                       int
	terms                     int // terms seen with a leader
	kills, restarts, installs int
	compared                  int // log entries compared between members
	acked, ackedInLog         int // acknowledged writes, those found in a log
	phases                    string

	// What the checks ran on, for TestLinearizableAfterChecksBite.
	h      *linHistory
	aud    *lnAuditor
	finals map[string]*Entry
}

func (s *lnStats) add(o lnStats) {
	s.ops, s.terms, s.kills, s.restarts = s.ops+o.ops, s.terms+o.terms, s.kills+o.kills, s.restarts+o.restarts
	s.installs, s.compared, s.acked, s.ackedInLog = s.installs+o.installs, s.compared+o.compared, s.acked+o.acked, s.ackedInLog+o.ackedInLog
}

func (s lnStats) String() string {
	out := fmt.Sprintf("%d operations (%v), %d terms with a leader, %d kills, %d restarts, %d snapshot installs, %d log entries compared between members, %d of %d acknowledged writes found in the logs",
		s.ops, s.res, s.terms, s.kills, s.restarts, s.installs, s.compared, s.ackedInLog, s.acked)
	if s.phases != "" {
		out += "; " + s.phases
	}
	return out
}

// linRun runs one seed on an in-memory cluster of three.
func linRun(t *testing.T, seed uint64, d time.Duration, stale bool) lnStats {
	return linRunOn(t, newLnMemCluster(t, 3, seed), seed, d, stale)
}

// linRunOn runs one seed on c: clients and a nemesis for d, then the
// checks after the schedule; stale makes the clients read stale from a
// random node, which porcupine must catch.
func linRunOn(t *testing.T, c *lnCluster, seed uint64, d time.Duration, stale bool) lnStats {
	t0 := time.Now()
	c.leadForSnapshots()
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
	terms := &termLog{leaders: map[uint64]string{}}
	wg.Add(1)
	go func() {
		defer wg.Done()
		terms.watch(ctx, t, c)
	}()
	// The nemesis runs here, on the test goroutine (a restart may
	// fail the test), auditing the logs between its actions.
	aud := newLnAuditor()
	var auditErr error
	linNemesis(ctx, c, rand.New(rand.NewPCG(seed, 99)), func() {
		if auditErr == nil {
			auditErr = aud.audit(c.logViews(), false)
		}
	})
	wg.Wait()
	if auditErr != nil {
		t.Fatalf("seed %d, during the schedule: %v", seed, auditErr)
	}
	t1 := time.Now()
	c.restartAll()
	c.heal()
	finals := linFinal(t, c, h)
	st := lnStats{ops: len(h.ops), terms: terms.count(), kills: c.kills, restarts: c.restarts, installs: c.f.installCount()}
	if err := aud.audit(c.logViews(), true); err != nil {
		t.Fatalf("seed %d, after the schedule: %v", seed, err)
	}
	var err error
	if st.ackedInLog, err = lnCheckAckedInLogs(aud.ref, h.writes); err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	if err := lnCheckFinal(h.writes, finals); err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	for _, w := range h.writes {
		if w.acked {
			st.acked++
		}
	}
	st.compared = aud.compared
	if st.compared == 0 || st.ackedInLog == 0 {
		t.Fatalf("seed %d: the log checks saw nothing: %v", seed, st)
	}
	st.h, st.aud, st.finals = h, aud, finals
	t2 := time.Now()
	st.res = porcupine.CheckOperationsTimeout(linModel, h.ops, 30*time.Second)
	st.phases = fmt.Sprintf("schedule %.1f s, restarts and checks %.1f s, porcupine %.1f s",
		t1.Sub(t0).Seconds(), t2.Sub(t1).Seconds(), time.Since(t2).Seconds())
	return st
}

// linFinal, after healing with every member running: the last state
// of every key is read into the history (every acknowledged write must
// show in it), and the replicas converge to identical states. It
// returns the final entries (nil for a key absent).
func linFinal(t *testing.T, c *lnCluster, h *linHistory) map[string]*Entry {
	ctx := testCtx(t, 60*time.Second)
	var l *Node
	var rev uint64
	lnRetry(t, ctx, "the sync write", func(cctx context.Context) (err error) {
		l = c.leader()
		rev, err = l.Put(cctx, "sync", nil, 0) // commits everything before it
		return err
	})
	finals := map[string]*Entry{}
	for i := range 3 {
		key := fmt.Sprint("k", i)
		call := time.Now()
		var e Entry
		var found bool
		lnRetry(t, ctx, "the final read of "+key, func(cctx context.Context) (err error) {
			l = c.leader()
			e, found, err = l.Get(cctx, key)
			return err
		})
		val := ""
		if found {
			val, finals[key] = string(e.Value), &e
		}
		h.add(-1, linInput{op: "get", key: key}, linOutput{value: val}, call, time.Now())
	}
	nodes := c.nodeList()
	if len(nodes) != c.size() {
		t.Fatalf("%d of %d members run after the schedule", len(nodes), c.size())
	}
	start := time.Now()
	slow := false
	for _, nd := range nodes {
		for nd.Revision() < rev {
			if time.Since(start) > 60*time.Second {
				t.Fatalf("replica %s did not catch up with revision %d within 60 s:%s", nd.ID(), rev, c.describe())
			}
			if !slow && time.Since(start) > 10*time.Second {
				slow = true
				t.Logf("replica %s has not caught up with revision %d after 10 s:%s", nd.ID(), rev, c.describe())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	want := snapshotBytes(t, l.st)
	for _, nd := range nodes {
		if nd.Revision() == l.Revision() {
			if got := snapshotBytes(t, nd.st); string(got) != string(want) {
				t.Fatalf("replica %s differs from the leader at revision %d", nd.ID(), nd.Revision())
			}
		}
	}
	return finals
}

// lnRetry calls f, with a deadline of 5 s each time, until it succeeds;
// the test fails when ctx ends first.
func lnRetry(t *testing.T, ctx context.Context, what string, f func(context.Context) error) {
	t.Helper()
	start := time.Now()
	for tries := 1; ; tries++ {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := f(cctx)
		cancel()
		if err == nil {
			if time.Since(start) > 10*time.Second {
				t.Logf("%s took %d tries, %.1f s", what, tries, time.Since(start).Seconds())
			}
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// termLog samples who leads in which term: two leaders of one term
// would be a safety violation.
type termLog struct {
	mu      sync.Mutex
	leaders map[uint64]string
}

func (l *termLog) watch(ctx context.Context, t *testing.T, c *lnCluster) {
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

// linStep runs one random operation against the node that leads now
// (a stale read: against a random node).
func linStep(c *lnCluster, h *linHistory, r *rand.Rand, client int, v string, stale bool) {
	key := fmt.Sprint("k", r.IntN(3))
	nd, done := c.use(func(running []*Node) *Node {
		for _, nd := range running {
			if nd.IsLeader() {
				return nd
			}
		}
		return nil
	})
	defer done()
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
			other, done := c.use(func(running []*Node) *Node { return running[r.IntN(len(running))] })
			e, found, err = other.Get(ctx, key, Stale())
			done()
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
		rev, err := nd.Put(ctx, key, []byte(v), 0)
		if lnNotApplied(err) {
			return
		}
		h.add(client, linInput{op: "put", key: key, value: v}, linOutput{unknown: err != nil}, call, time.Now())
		h.addWrite(lnWrite{op: opPut, key: key, value: v, acked: err == nil, rev: rev, changed: err == nil})
	case op < 8:
		deleted, rev, err := nd.Delete(ctx, key)
		if lnNotApplied(err) {
			return
		}
		h.add(client, linInput{op: "del", key: key}, linOutput{unknown: err != nil}, call, time.Now())
		h.addWrite(lnWrite{op: opDelete, key: key, acked: err == nil, rev: rev, changed: err == nil && deleted})
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
		ok, rev, _, err := nd.CompareAndSwap(ctx, key, mod, []byte(v), 0)
		if lnNotApplied(err) {
			return
		}
		h.add(client, linInput{op: "cas", key: key, value: v, expected: exp}, linOutput{ok: ok, unknown: err != nil}, call, time.Now())
		h.addWrite(lnWrite{op: opCAS, key: key, value: v, modRev: mod, acked: err == nil, rev: rev, changed: err == nil && ok})
	}
}

// lnNotApplied tells a write that did nothing, which the history leaves
// out: ErrNotLeader, as documented, means the write was not proposed,
// and the checks hold the package to it. (raft's ErrLeadershipLost, an
// entry appended that may yet commit, is ErrOutcomeUnknown; when Node
// answered it as ErrNotLeader, these checks failed within a few seeds.)
// Any other error leaves the outcome unknown.
func lnNotApplied(err error) bool {
	return errors.Is(err, ErrNotLeader)
}

// linNemesis acts every 100-500 ms until ctx ends, calling audit every
// 25 ms in between. Its first action kills a random follower; then, at
// random: isolate the leader or a random member, split the cluster in
// two, move leadership, drop and delay messages, kill the leader or a
// random member (while no more than a minority is down), restart a
// member down for 1 s or more, or heal the network. Cuts add up until
// a heal. Before each action, a member down restarts as soon as the
// leader would have to send it a snapshot.
func linNemesis(ctx context.Context, c *lnCluster, r *rand.Rand, audit func()) {
	for first := true; ctx.Err() == nil; first = false {
		next := time.Now().Add(time.Duration(100+r.IntN(400)) * time.Millisecond)
		for time.Now().Before(next) {
			audit()
			select {
			case <-ctx.Done():
				return
			case <-time.After(25 * time.Millisecond):
			}
		}
		c.returnLagging()
		if first {
			c.killFollower(r)
			continue
		}
		switch r.IntN(12) {
		case 0:
			c.isolate(c.anyLeader())
		case 1:
			nodes := c.nodeList()
			c.isolate(nodes[r.IntN(len(nodes))])
		case 2:
			c.partition(r)
		case 3:
			if l := c.anyLeader(); l != nil {
				l.raft.LeadershipTransfer()
			}
		case 4:
			c.chaos(r)
		case 5:
			c.kill(c.anyLeader())
		case 6:
			nodes := c.nodeList()
			c.kill(nodes[r.IntN(len(nodes))])
		case 7, 8:
			c.restart(r)
		default:
			c.heal()
		}
	}
}

// linSeeds returns how many seeds to run, and for how long: 3 of d
// unless ZMP_LIN_SEEDS and ZMP_LIN_DURATION say otherwise.
func linSeeds(t *testing.T, d time.Duration) (int, time.Duration) {
	seeds := 3
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

// lnRunSeeds runs seeds 1, 2, 3 of d (or as linSeeds says), each on a
// cluster of its own that stops before the next seed starts, and
// requires every history to be linearizable, every check after a
// schedule to pass, and at least one snapshot installed across the
// seeds.
func lnRunSeeds(t *testing.T, what string, d time.Duration, cluster func(t *testing.T, seed uint64) *lnCluster) {
	seeds, d := linSeeds(t, d)
	var sum lnStats
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			start := time.Now()
			var up, ran time.Time
			t.Cleanup(func() {
				if !ran.IsZero() {
					t.Logf("seed %d: cluster up in %.1f s, run %.1f s, stopped in %.1f s", seed,
						up.Sub(start).Seconds(), ran.Sub(up).Seconds(), time.Since(ran).Seconds())
				}
			})
			c := cluster(t, seed)
			up = time.Now()
			st := linRunOn(t, c, seed, d, false)
			ran = time.Now()
			if st.res == porcupine.Illegal {
				t.Fatalf("the history of %d operations is not linearizable", st.ops)
			}
			if st.ops < 50 {
				t.Fatalf("only %d operations: the test does not exercise the store", st.ops)
			}
			t.Log(st)
			sum.add(st)
		})
		if t.Failed() {
			return
		}
	}
	if sum.installs == 0 {
		t.Fatalf("no snapshot was installed in %d seeds of %v", seeds, d)
	}
	sum.res = porcupine.Ok
	t.Logf("%s: %d seeds of %v: %v", what, seeds, d, sum)
}

// TestLinearizable checks fixed seeds on an in-memory cluster of three.
func TestLinearizable(t *testing.T) {
	lnRunSeeds(t, "in memory, 3 members", 3*time.Second, func(t *testing.T, seed uint64) *lnCluster { return newLnMemCluster(t, 3, seed) })
}

// TestLinearizable5 is TestLinearizable with five members.
func TestLinearizable5(t *testing.T) {
	lnRunSeeds(t, "in memory, 5 members", 3*time.Second, func(t *testing.T, seed uint64) *lnCluster { return newLnMemCluster(t, 5, seed) })
}

// TestLinearizableCheckerBites: reads served stale from a random node
// must be caught in most seeds, or the checker proves nothing.
func TestLinearizableCheckerBites(t *testing.T) {
	const seeds = 4
	caught := 0
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprint("seed", 100+seed), func(t *testing.T) {
			if st := linRun(t, 100+seed, 2*time.Second, true); st.res == porcupine.Illegal {
				caught++
			}
		})
	}
	if caught < seeds/2+1 {
		t.Fatalf("stale reads caught in %d of %d seeds", caught, seeds)
	}
	t.Logf("stale reads caught in %d of %d seeds", caught, seeds)
}
