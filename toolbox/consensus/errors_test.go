package consensus

import (
	"errors"
	"fmt"
	"testing"

	"github.com/gozmp/zmp/core"
	"github.com/hashicorp/raft"
)

// raft's errors map to this package's by what they say of the outcome:
// ErrNotLeader only when the operation was surely not taken.
func TestTranslateOutcome(t *testing.T) {
	c := newMemCluster(t, 1)
	n := c.nodes[0]
	for _, tc := range []struct {
		raft       error
		write, rd  error
		notLeaderW bool
	}{
		{raft.ErrNotLeader, ErrNotLeader, ErrNotLeader, true},
		{raft.ErrLeadershipTransferInProgress, ErrNotLeader, ErrNotLeader, true},
		{raft.ErrLeadershipLost, ErrOutcomeUnknown, ErrNotLeader, false},
		{raft.ErrRaftShutdown, ErrClosed, ErrClosed, false},
		{raft.ErrEnqueueTimeout, ErrTimeout, ErrTimeout, false},
	} {
		w, r := n.translate(tc.raft), n.translateRead(tc.raft)
		if !errors.Is(w, tc.write) || errors.Is(w, ErrNotLeader) != tc.notLeaderW {
			t.Errorf("write %v -> %v, want %v", tc.raft, w, tc.write)
		}
		if !errors.Is(r, tc.rd) {
			t.Errorf("read %v -> %v, want %v", tc.raft, r, tc.rd)
		}
	}
	// Over the wire, ErrOutcomeUnknown keeps its meaning.
	if err := localErr(remoteErr(fmt.Errorf("%w: x", ErrOutcomeUnknown))); !errors.Is(err, ErrOutcomeUnknown) || errors.Is(err, ErrNotLeader) {
		t.Errorf("ErrOutcomeUnknown over the wire: %v", err)
	}
	for _, e := range []error{core.ErrNotSent, core.ErrNoProvider, core.ErrOverloaded, core.ErrUnknownService} {
		if !notDelivered(fmt.Errorf("x: %w", e)) {
			t.Errorf("%v is not taken as undelivered", e)
		}
	}
	for _, e := range []error{core.ErrConnectionLost, core.ErrTimeout, errors.New("canceled")} {
		if notDelivered(e) {
			t.Errorf("%v is taken as undelivered", e)
		}
	}
}
