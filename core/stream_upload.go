package core

import (
	"context"
	"io"
	"time"
)

// The provider's side of an upload: data calls fill the window, the
// handler's Body drains it, a wait call asks for room, close marks the
// end and waits for the handler's reply.

// limitLocked is the first chunk number the caller may not send yet:
// window chunks past what the handler has finished reading. It never
// decreases, so chunks sent under an earlier limit stay welcome however
// the calls that carry them are reordered.
func (st *stream) limitLocked() uint64 {
	held := uint64(0)
	if st.cur != nil {
		held = 1
	}
	return st.next + uint64(st.ss.cfg.window) - held
}

// data buffers one chunk. It never waits: a caller keeps within the
// limit of the replies it has had.
func (st *stream) data(m streamMsg, chunk []byte) ([]byte, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	switch {
	case !st.upload:
		return nil, st.violation("data on a download")
	case st.done:
		return st.resultLocked()
	}
	if cause := st.endedLocked(); cause != nil {
		return nil, st.goneError(cause)
	}
	limit := st.limitLocked()
	_, dup := st.slots[m.seq]
	switch {
	case len(chunk) > st.ss.cfg.chunk:
		return nil, st.violation("chunk of %d bytes, the limit is %d", len(chunk), st.ss.cfg.chunk)
	case m.seq < st.next || dup:
		return nil, st.violation("chunk %d again", m.seq)
	case st.eofSet && m.seq >= st.eofAt:
		return nil, st.violation("chunk %d after the close at %d", m.seq, st.eofAt)
	case m.seq >= limit:
		return nil, st.violation("chunk %d beyond the window (limit %d)", m.seq, limit)
	}
	st.slots[m.seq] = chunk // the request body is ours: kept, not copied
	if m.seq == st.next {
		st.notifyLocked()
	}
	return st.replyMsg(statusOK, limit, 0, nil), nil
}

// wait answers when chunk m.seq may be sent, after waiting for room as
// the stream's parked call; "pending" when there is none yet.
func (st *stream) wait(ctx context.Context, deadline time.Time, m streamMsg) ([]byte, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.upload {
		return nil, st.violation("wait on a download")
	}
	st.parkLocked(ctx, deadline, func() bool { return st.done || m.seq < st.limitLocked() })
	if st.done {
		return st.resultLocked()
	}
	if cause := st.endedLocked(); cause != nil {
		return nil, st.goneError(cause)
	}
	limit := st.limitLocked()
	if m.seq < limit {
		return st.replyMsg(statusOK, limit, 0, nil), nil
	}
	return st.replyMsg(statusPending, limit, 0, nil), nil
}

// close marks the end of the upload after m.seq chunks and waits, as
// the stream's parked call, for the handler's reply; "pending" when it
// has not come yet (the caller asks again with the same count). The
// reply ends the stream. After a handler that answered early, close
// takes its reply, whatever the count.
func (st *stream) close(ctx context.Context, deadline time.Time, m streamMsg) ([]byte, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.upload {
		return nil, st.violation("close on a download (abort it instead)")
	}
	if !st.done {
		if cause := st.endedLocked(); cause != nil {
			return nil, st.goneError(cause)
		}
		if err := st.markEndLocked(m.seq); err != nil {
			return nil, err
		}
		st.parkLocked(ctx, deadline, func() bool { return st.done })
	}
	if st.done {
		if st.err == nil {
			st.abort(errStreamDone) // the caller has the reply
		}
		return st.resultLocked()
	}
	if cause := st.endedLocked(); cause != nil {
		return nil, st.goneError(cause)
	}
	return st.replyMsg(statusPending, 0, 0, nil), nil
}

// markEndLocked records that the upload has n chunks.
func (st *stream) markEndLocked(n uint64) error {
	if st.eofSet {
		if n != st.eofAt {
			return st.violation("closed at %d after a close at %d", n, st.eofAt)
		}
		return nil
	}
	if n < st.next {
		return st.violation("closed at %d, but chunk %d was sent", n, st.next-1)
	}
	for seq := range st.slots {
		if seq >= n {
			return st.violation("closed at %d, but chunk %d was sent", n, seq)
		}
	}
	st.eofSet, st.eofAt = true, n
	st.notifyLocked()
	return nil
}

// uploadBody is StreamRequest.Body: the handler's end of an upload.
type uploadBody struct{ st *stream }

func (b uploadBody) Read(p []byte) (int, error) {
	st := b.st
	if !st.upload {
		return 0, io.EOF
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for {
		if cause := st.endedLocked(); cause != nil {
			return 0, cause
		}
		if st.cur != nil {
			n := copy(p, st.cur)
			if st.cur = st.cur[n:]; len(st.cur) == 0 {
				st.cur = nil // room for one more chunk
				st.notifyLocked()
			}
			return n, nil
		}
		if st.eofSet && st.next == st.eofAt {
			return 0, io.EOF
		}
		if c, ok := st.slots[st.next]; ok {
			delete(st.slots, st.next)
			st.next++
			if len(c) > 0 {
				st.cur = c
			} else {
				st.notifyLocked()
			}
			continue
		}
		if len(p) == 0 {
			return 0, nil
		}
		st.waitLocked()
	}
}
