package consensus

import (
	"io"

	"github.com/hashicorp/raft"
)

// fsm adapts the store's state to raft.FSM. Apply returns a result (or
// an error for a command that does not decode, which a proposer of
// this package never writes).
type fsm struct{ s *state }

// Apply applies a command entry of the log.
func (f fsm) Apply(l *raft.Log) any {
	c, err := decodeCommand(l.Data)
	if err != nil {
		return result{rev: f.s.revision(), err: err}
	}
	return f.s.apply(l.Index, c)
}

// Snapshot copies the state's pointers; Persist encodes them outside
// the state's lock, so applies go on meanwhile.
func (f fsm) Snapshot() (raft.FSMSnapshot, error) { return snapshot{f.s.freeze()}, nil }

// Restore replaces the state with a snapshot's.
func (f fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	r, err := readState(rc)
	if err != nil {
		return err
	}
	f.s.restoreFrom(r)
	return nil
}

type snapshot struct{ f *frozen }

func (s snapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.f.write(sink); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s snapshot) Release() {}
