package consensus

import (
	"errors"
	"fmt"
)

// Sentinel errors. Test for them with errors.Is.
var (
	// ErrLeaseNotFound means a lease does not exist (it expired, was
	// revoked, or never was).
	ErrLeaseNotFound = errors.New("consensus: lease not found")
	// ErrLeaseExists means a grant named a lease that exists.
	ErrLeaseExists = errors.New("consensus: lease exists")
	// ErrCompacted means a watch asked for events older than the
	// history the store keeps.
	ErrCompacted = errors.New("consensus: revision compacted")
	// ErrClosed is returned by operations on a closed object.
	ErrClosed = errors.New("consensus: closed")
)

// More sentinel errors.
var (
	// ErrNotLeader means the operation needs the leader and this node
	// is not it; the error is a *NotLeaderError naming the leader when
	// this node knows one.
	ErrNotLeader = errors.New("consensus: not the leader")
	// ErrTimeout means raft did not take or finish an operation in
	// time; it may or may not have been applied.
	ErrTimeout = errors.New("consensus: timed out")
	// ErrBadConfig reports a configuration or option that cannot work.
	ErrBadConfig = errors.New("consensus: bad configuration")
)

// NotLeaderError is ErrNotLeader with the leader this node knows:
// empty when it knows none (an election is under way).
type NotLeaderError struct {
	LeaderAddr, LeaderID string
}

func (e *NotLeaderError) Error() string {
	if e.LeaderID == "" {
		return "consensus: not the leader, and no leader known"
	}
	return fmt.Sprintf("consensus: not the leader; the leader is %s at %s", e.LeaderID, e.LeaderAddr)
}

// Is makes errors.Is(err, ErrNotLeader) hold.
func (e *NotLeaderError) Is(target error) bool { return target == ErrNotLeader }

// ErrBadRequest reports a key, value or argument out of bounds.
var ErrBadRequest = errors.New("consensus: bad request")

// ErrOutcomeUnknown means a write was handed to raft or to the leader
// and then the answer was lost: the leader lost its leadership while
// committing it, or the connection to the leader that a follower
// forwarded it to broke. It may or may not have been applied; read
// before writing again, or use CompareAndSwap. ErrNotLeader, by
// contrast, always means nothing was done.
var ErrOutcomeUnknown = errors.New("consensus: outcome unknown: the write may or may not have been applied")

// ErrNotMember means a server ID is not in the cluster's configuration.
var ErrNotMember = errors.New("consensus: not a member")
