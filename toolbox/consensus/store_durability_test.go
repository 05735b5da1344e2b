package consensus

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestStoreSurvivesKill runs a writer child on one directory several
// times, SIGKILLs it at a random point each time, and checks after each
// kill that the reopened store holds every log entry and the stable key
// the child acknowledged. (A kill keeps the page cache, so this checks
// that an acknowledged write reached the file and that a torn tail
// recovers; that the backends fsync before acknowledging is checked by
// reading their sources, cited on Store.)
func TestStoreSurvivesKill(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed>>7))
	for _, b := range stBackends() {
		t.Run(b.String(), func(t *testing.T) {
			dir := t.TempDir()
			var acked uint64
			for round := range 3 {
				killAfter := 1 + rng.IntN(300)
				delay := time.Duration(rng.IntN(3000)) * time.Microsecond
				acked = stKillWriter(t, dir, b, killAfter, delay, acked)
				t.Logf("round %d: killed after %d+ acks (+%v), last acked index %d", round, killAfter, delay, acked)
				stCheckAcked(t, dir, b, acked)
			}
		})
	}
}

// stKillWriter starts the writer child on dir, SIGKILLs it delay after
// its killAfter-th acknowledgement, and returns the last index it
// acknowledged (prev if none).
func stKillWriter(t *testing.T, dir string, b Backend, killAfter int, delay time.Duration, prev uint64) uint64 {
	t.Helper()
	cmd := stHelperCmd(t, "writer", dir, b)
	stdout, err := cmd.StdoutPipe()
	stMust(t, err)
	stMust(t, cmd.Start())
	lines := stReadLines(stdout)
	last, n := prev, 0
	ack := func(l string) {
		idx, err := strconv.ParseUint(strings.TrimPrefix(l, "ack "), 10, 64)
		if err != nil || idx <= last {
			cmd.Process.Kill()
			t.Fatalf("child said %q after ack %d", l, last)
		}
		last = idx
		n++
	}
	deadline := time.After(2 * time.Minute)
	for n < killAfter {
		select {
		case l, ok := <-lines:
			if !ok {
				cmd.Wait()
				t.Fatalf("child ended after %d acks", n)
			}
			ack(l)
		case <-deadline:
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child acked %d of %d writes in 2 minutes", n, killAfter)
		}
	}
	time.Sleep(delay)
	stMust(t, cmd.Process.Kill())
	// Lines the child wrote before it died were acknowledged too.
	for l := range lines {
		ack(l)
	}
	if err := cmd.Wait(); err == nil {
		t.Fatal("killed child exited 0")
	}
	return last
}

// stCheckAcked reopens dir and fails unless it holds every index up to
// acked (the child's entries are 1..n with stLog payloads) and a stable
// term of at least acked.
func stCheckAcked(t *testing.T, dir string, b Backend, acked uint64) {
	t.Helper()
	s, err := OpenStore(dir, WithBackend(b))
	stMust(t, err)
	defer s.Close()
	first, err := s.Log().FirstIndex()
	stMust(t, err)
	last, err := s.Log().LastIndex()
	stMust(t, err)
	if first != 1 || last < acked {
		t.Fatalf("store holds %d..%d, child acknowledged 1..%d", first, last, acked)
	}
	// Entries past acked were written but not yet acknowledged: they may
	// be there or not, but what is there must be whole.
	stCheckRange(t, s, 1, last)
	term, err := s.Stable().GetUint64([]byte(stTermKey))
	stMust(t, err)
	if term < acked {
		t.Fatalf("stable term %d < acknowledged %d", term, acked)
	}
}
