package core

import (
	"context"
	"errors"
	"time"
)

// Tombstones: a call that arrives just after its stream's deadline
// ended the stream (the call was on the wire when the deadline passed)
// gets the deadline, as a call parked on the stream would have,
// instead of "no open stream".

// Bounds of a stream service's tombstones.
const (
	maxTombs = 256
	tombTTL  = 5 * time.Second
)

type tomb struct {
	id    streamID
	conn  any
	cause error
	at    time.Time
}

// buryLocked records that st ended at its deadline; the caller holds ss.mu. The oldest
// tombstone goes when there are maxTombs.
func (ss *streamService) buryLocked(st *stream) {
	cause := context.Cause(st.ctx)
	if !errors.Is(cause, context.DeadlineExceeded) {
		return // other ends are the caller's doing, or its silence
	}
	if len(ss.tombs) >= maxTombs {
		copy(ss.tombs, ss.tombs[1:])
		ss.tombs = ss.tombs[:len(ss.tombs)-1]
	}
	ss.tombs = append(ss.tombs, tomb{id: st.id, conn: st.conn, cause: cause, at: time.Now()})
}

// endedCause returns why the stream id of the caller's connection key
// ended, if that was its deadline less than tombTTL ago, or nil.
func (ss *streamService) endedCause(id streamID, key any) error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for i := len(ss.tombs) - 1; i >= 0; i-- {
		t := ss.tombs[i]
		if t.id == id && t.conn == key && time.Since(t.at) < tombTTL {
			return t.cause
		}
	}
	return nil
}
