package consensus

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/hashicorp/raft"
)

// A follower stopped while the leader snapshots and truncates its log
// rejoins and receives the snapshot (64 MiB, streamed) without a new
// election: the term does not change, the follower does not even ask
// for a (pre-)vote during or after the install, and heartbeats reach it
// through raft's fast path while its main loop is busy.
func TestTransportSnapshotInstall(t *testing.T) {
	r := trSnapshotRejoin(t, core.TCP, 64<<20, false)
	t.Logf("64 MiB snapshot: follower restarted to caught up in %v (with its 3 s restore delay)", r.took)
}

// The same with 256 MiB, measuring the process's resident memory (both
// members are in it) while the snapshot crosses; without the race
// detector, whose shadow memory multiplies the heap.
func TestTransportSnapshotLarge256MiB(t *testing.T) {
	if testing.Short() || trRaceEnabled {
		t.Skip("moves 256 MiB; run without -race and -short")
	}
	r := trSnapshotRejoin(t, core.TCP, 256<<20, true)
	const budget = 96 << 20
	t.Logf("256 MiB snapshot: follower restarted to caught up in %v (with its 3 s restore delay and the leader's retry backoff); RSS %d MiB before, peak %d MiB above it, budget %d MiB",
		r.took, r.rssBase>>20, r.rssGrowth>>20, budget>>20)
	if r.rssGrowth > budget {
		t.Fatalf("RSS rose by %d MiB while 256 MiB crossed, budget %d MiB", r.rssGrowth>>20, budget>>20)
	}
}

type trRejoinResult struct {
	took               time.Duration
	rssBase, rssGrowth uint64
}

func trSnapshotRejoin(t *testing.T, tr core.Transport, size int64, measure bool) trRejoinResult {
	e := trNewEnv(t, tr)
	c := trStartCluster(t, e, trClusterOpts{n: 3, fileSnaps: true, config: func(c *raft.Config) { c.TrailingLogs = 10 }})
	c.applyMany("before", 100, 4)
	c.waitApplied(100, 60*time.Second)
	leader := c.leader(60 * time.Second)
	var f *trNode
	for _, n := range c.nodes {
		if n != leader {
			f = n
			break
		}
	}
	c.stop(f)
	c.apply("blob:"+strconv.FormatInt(size, 10), 60*time.Second)
	c.applyMany("after", 200, 4)
	leader = c.leader(60 * time.Second)
	if err := leader.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	first, err := leader.logs.FirstIndex()
	if err != nil || first <= 101 {
		t.Fatalf("leader's log starts at %d (%v): not truncated past the stopped follower", first, err)
	}
	want, _, _ := leader.fsm.state()
	term := leader.raft.CurrentTerm()

	var res trRejoinResult
	var rss *trRSSWatch
	if measure {
		runtime.GC()
		debug.FreeOSMemory()
		rss = trWatchRSS(t)
	}
	f.fsm.restoreDelay = 3 * time.Second // the main loop stays busy past an election timeout
	start := time.Now()
	c.start(f)
	trWaitFor(t, 5*time.Minute, "the snapshot to reach the follower", func() bool { return f.trans.Stats().Snapshot.Received > 0 })
	votes := f.trans.Stats().Vote.Sent + f.trans.Stats().PreVote.Sent
	fastBefore := f.trans.Stats().HeartbeatFast
	trWaitFor(t, 5*time.Minute, "the follower to restore the snapshot and catch up", func() bool {
		a, _, restored := f.fsm.state()
		return restored == size && a >= want
	})
	res.took = time.Since(start)
	if rss != nil {
		res.rssBase, res.rssGrowth = rss.stop()
	}
	// Watch for a while: a follower that missed heartbeats while busy
	// would now start an election.
	c.apply("after-install", 60*time.Second)
	time.Sleep(3 * time.Second)
	st := f.trans.Stats()
	if got := st.Vote.Sent + st.PreVote.Sent; got != votes {
		t.Errorf("the follower asked for %d (pre-)votes during or after the install", got-votes)
	}
	if st.HeartbeatFast <= fastBefore {
		t.Errorf("no heartbeat reached the follower's fast path during the install (%d before, %d after)", fastBefore, st.HeartbeatFast)
	}
	if out := leader.trans.Stats().SnapshotBytesOut; st.SnapshotBytesIn != out || out < size {
		t.Errorf("follower read %d snapshot bytes, leader sent %d, blob %d", st.SnapshotBytesIn, out, size)
	}
	if l := c.leader(60 * time.Second); l != leader || l.raft.CurrentTerm() != term || f.raft.CurrentTerm() != term {
		t.Errorf("term moved: %d before, leader %s at %d, follower at %d", term, l.id, l.raft.CurrentTerm(), f.raft.CurrentTerm())
	}
	c.waitApplied(want+1, 60*time.Second)
	return res
}

// trRSSWatch samples the process's resident memory until stopped.
type trRSSWatch struct {
	base uint64
	peak atomic.Uint64
	done chan struct{}
	wg   sync.WaitGroup
}

func trWatchRSS(t *testing.T) *trRSSWatch {
	w := &trRSSWatch{base: trRSS(t), done: make(chan struct{})}
	w.peak.Store(w.base)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.done:
				return
			case <-tick.C:
				if v := trRSS(nil); v > w.peak.Load() {
					w.peak.Store(v)
				}
			}
		}
	}()
	return w
}

// stop returns the baseline and the peak's rise above it.
func (w *trRSSWatch) stop() (base, growth uint64) {
	close(w.done)
	w.wg.Wait()
	return w.base, w.peak.Load() - w.base
}

// trRSS reads VmRSS from /proc/self/status (0 where there is none).
func trRSS(t *testing.T) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		if t != nil {
			t.Skipf("no /proc: %v", err)
		}
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb uint64
			fmt.Sscanf(strings.TrimSpace(rest), "%d", &kb)
			return kb << 10
		}
	}
	return 0
}
