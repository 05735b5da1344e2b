package harness

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/gozmp/zmp/bench/spec"
)

// fdsPerPeer is what one client peer of the callers and subscribers
// cases holds: its two listeners (RPC, PUB) and its connection to the
// server, with room to spare; the server holds one per client.
const (
	fdsPerPeer = 4
	fdsSpare   = 256
)

// ensureFiles raises this process's limit of open files to at least
// need when its hard limit allows (Go raises the soft limit to the hard
// one at start-up already), and says so when it cannot: a worker that
// ran out of descriptors half-way would fail with a less clear error.
func ensureFiles(need uint64) error {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return nil // cannot tell: let the measurement find out
	}
	if lim.Cur >= need {
		return nil
	}
	if lim.Max < need {
		return fmt.Errorf("%d open files needed, the hard limit is %d (raise it with ulimit -Hn)", need, lim.Max)
	}
	lim.Cur = need
	return unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
}

// filesNeeded is what a side of point p needs when each of its N
// callers or subscribers takes per descriptors; the other cases hold a
// few whatever their size.
func filesNeeded(p spec.ScalePoint, per uint64) uint64 {
	if p.Case != spec.ScaleCallers && p.Case != spec.ScaleSubscribers {
		return fdsSpare
	}
	return per*uint64(p.Size) + fdsSpare
}
