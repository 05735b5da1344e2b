package consensus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// Linearizable reads, ReadIndex style (hashicorp/raft has no ReadIndex
// of its own; its issue #603):
//
//  1. The leader makes sure it has committed an entry of its current
//     term (a Barrier once per term), so its commit index covers every
//     write acknowledged by any earlier leader.
//  2. It records its commit index, then confirms with a quorum that it
//     is still the leader (VerifyLeader), and that its term did not
//     change meanwhile: no other leader can have committed anything
//     after the recorded index before the confirmation.
//  3. The read waits until the state machine has applied every command
//     up to that index, and is served from it.
//
// Reads that arrive while a confirmation is under way wait for the
// next one, which serves all of them: one round of heartbeats per
// batch of reads, not per read.

// readBatcher batches the confirmations of concurrent reads.
type readBatcher struct {
	n        *Node
	mu       sync.Mutex
	waiting  []chan readIndexResult
	running  bool
	ready    atomic.Uint64 // the term whose first entries are known committed
	confirms atomic.Uint64 // rounds of confirmation, for stats and tests
}

type readIndexResult struct {
	idx uint64
	err error
}

// readIndex returns an index such that the state machine, once it has
// applied every command up to it, answers a read linearizably.
func (b *readBatcher) readIndex(ctx context.Context) (uint64, error) {
	ch := make(chan readIndexResult, 1)
	b.mu.Lock()
	b.waiting = append(b.waiting, ch)
	start := !b.running
	b.running = true
	b.mu.Unlock()
	if start {
		b.n.goFunc(b.loop)
	}
	select {
	case r := <-ch:
		return r.idx, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// loop confirms batches until no read waits.
func (b *readBatcher) loop() {
	for {
		b.mu.Lock()
		batch := b.waiting
		b.waiting = nil
		if len(batch) == 0 || b.n.ctx.Err() != nil {
			b.running = false
			b.mu.Unlock()
			for _, ch := range batch {
				ch <- readIndexResult{err: ErrClosed}
			}
			return
		}
		b.mu.Unlock()
		idx, err := b.confirm()
		for _, ch := range batch {
			ch <- readIndexResult{idx, err}
		}
	}
}

// confirm is steps 1 and 2.
func (b *readBatcher) confirm() (uint64, error) {
	r := b.n.raft
	if r.State() != raft.Leader {
		return 0, b.n.notLeader()
	}
	term := r.CurrentTerm()
	if b.ready.Load() != term {
		if err := b.n.await(r.Barrier(10 * time.Second)); err != nil {
			return 0, b.n.translateRead(err)
		}
		if r.CurrentTerm() != term {
			return 0, b.n.notLeader()
		}
		b.ready.Store(term)
	}
	idx := r.CommitIndex()
	b.confirms.Add(1)
	if err := b.n.await(r.VerifyLeader()); err != nil {
		return 0, b.n.translateRead(err)
	}
	if r.CurrentTerm() != term {
		return 0, b.n.notLeader()
	}
	return idx, nil
}

// waitApplied is step 3: it waits until the state machine has applied
// every command with an index up to idx. Only commands reach the state
// machine, so it looks up the last command at or below idx in the log.
func (n *Node) waitApplied(ctx context.Context, logs raft.LogStore, idx uint64) error {
	rev := n.st.revision()
	var l raft.Log
	for i := idx; i > rev; i-- {
		if err := logs.GetLog(i, &l); err != nil {
			// Compacted away: applied already, as compaction follows
			// snapshots of the state machine.
			break
		}
		if l.Type == raft.LogCommand {
			for n.st.revision() < i {
				if err := n.st.watches.wait(ctx, n.st.revision()); err != nil {
					return err
				}
			}
			return nil
		}
	}
	return nil
}

// translateRead is translate for the steps of a read, which change
// nothing: a leadership lost on the way means only that this node
// cannot serve it.
func (n *Node) translateRead(err error) error {
	if errors.Is(err, raft.ErrLeadershipLost) {
		return fmt.Errorf("%w (%v)", n.notLeader(), err)
	}
	return n.translate(err)
}

// await waits for a raft future of the node's own until Close. raft
// v1.7.3 never answers a VerifyLeader queued just as it shuts down (its
// verifyCh is buffered and nobody drains it), so waiting on its Error
// alone could hang Close; the goroutine left waiting on such a future
// ends only with the process.
func (n *Node) await(f raft.Future) error {
	err := n.wait(n.ctx, f)
	if n.ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return ErrClosed
	}
	return err
}
