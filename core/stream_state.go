package core

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// stream is one open stream on its provider: the chunks buffered
// between the calls that carry them and the handler, and the handler's
// result until the caller has it.
//
// An upload buffers at most window chunks: those not yet read by the
// handler, the one it is reading included. A download buffers at most
// window chunks written by the handler and not yet taken by a read.
type stream struct {
	ss     *streamService
	id     streamID
	conn   any // the caller's connection: only it may speak for the stream
	upload bool
	holds  int // under ss.mu: reachable, and handler running

	ctx          context.Context // the handler's; its end ends the stream
	cancel       context.CancelCauseFunc
	stopDeadline context.CancelFunc
	idle         *time.Timer
	lastCall     atomic.Int64 // unix ns of the caller's last call

	mu     sync.Mutex
	notify chan struct{} // closed and replaced at every change
	parked bool          // a call waits on the provider for this stream

	// upload
	slots  map[uint64][]byte // received, not yet taken by the handler
	next   uint64            // the next chunk the handler takes
	cur    []byte            // the rest of the chunk the handler reads
	eofSet bool
	eofAt  uint64 // number of chunks, once the caller closed

	// download
	// Chunks start with streamHeaderLen bytes of room, so that a read
	// answered with one chunk sends it without a copy.
	out    [][]byte // complete chunks for the caller
	outSeq uint64   // the number of out[0]
	part   []byte   // the chunk being written

	// the handler's end
	done  bool
	reply []byte
	err   *RemoteError
}

// errStreamDone is the cause of a stream that ended normally.
var errStreamDone = fmt.Errorf("core: stream finished: %w", context.Canceled)

func newStream(ss *streamService, conn any, upload bool, timeoutMS uint32) *stream {
	st := &stream{ss: ss, id: newStreamID(), conn: conn, upload: upload, holds: 2, notify: make(chan struct{})}
	parent, stop := ss.p.Context(), context.CancelFunc(func() {})
	if timeoutMS > 0 {
		parent, stop = context.WithTimeout(parent, time.Duration(timeoutMS)*time.Millisecond)
	}
	st.ctx, st.cancel = context.WithCancelCause(parent)
	st.stopDeadline = stop
	if upload {
		st.slots = map[uint64][]byte{}
	}
	st.touch()
	st.idle = time.AfterFunc(ss.cfg.idle, st.checkIdle)
	context.AfterFunc(st.ctx, st.ended)
	return st
}

func (st *stream) touch() { st.lastCall.Store(time.Now().UnixNano()) }

// checkIdle aborts a stream whose caller has been silent for the idle
// timeout; a call parked on the provider counts as not silent.
func (st *stream) checkIdle() {
	st.mu.Lock()
	parked := st.parked
	st.mu.Unlock()
	idle := st.ss.cfg.idle
	if left := idle - time.Since(time.Unix(0, st.lastCall.Load())); parked || left > 0 {
		st.idle.Reset(max(left, idle/4))
		return
	}
	st.abort(fmt.Errorf("core: the caller was silent for %v: %w", idle, context.Canceled))
}

// abort ends the stream with cause; the handler sees its context end.
// The stream is unreachable when abort returns (ended, which frees its
// buffers, runs on a goroutine of its own).
func (st *stream) abort(cause error) {
	st.cancel(cause)
	st.ss.forget(st)
}

// ended runs once the stream's context has ended: it drops the
// buffered chunks, wakes every waiter and makes the stream unreachable.
func (st *stream) ended() {
	st.mu.Lock()
	st.slots, st.cur, st.out, st.part = nil, nil, nil, nil
	st.notifyLocked()
	st.mu.Unlock()
	st.idle.Stop()
	st.stopDeadline()
	st.ss.forget(st)
}

func (st *stream) notifyLocked() {
	close(st.notify)
	st.notify = make(chan struct{})
}

// endedLocked returns why the stream ended, or nil.
func (st *stream) endedLocked() error {
	if st.ctx.Err() == nil {
		return nil
	}
	return context.Cause(st.ctx)
}

// waitLocked waits, for the handler, until something changes or the
// stream ends. Called and returns with st.mu held.
func (st *stream) waitLocked() {
	ch := st.notify
	st.mu.Unlock()
	select {
	case <-ch:
	case <-st.ctx.Done():
	}
	st.mu.Lock()
}

// parkLocked waits, as the stream's one parked call, until ready holds,
// the park time of a call that arrived with deadline ends, the stream
// ends or the call's context ends. A call whose caller cancelled it or
// went away aborts the stream. When another call is parked already, it
// returns at once. Called and returns with st.mu held.
func (st *stream) parkLocked(ctx context.Context, deadline time.Time, ready func() bool) {
	if ready() || st.parked {
		return
	}
	st.parked = true
	defer func() { st.parked = false }()
	t := time.NewTimer(time.Until(parkUntil(deadline)))
	defer t.Stop()
	for !ready() && st.ctx.Err() == nil {
		ch := st.notify
		st.mu.Unlock()
		select {
		case <-ch:
		case <-st.ctx.Done():
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.Canceled) {
				st.abort(fmt.Errorf("core: the caller cancelled or left: %w", context.Canceled))
			}
			st.mu.Lock()
			return
		case <-t.C:
			st.mu.Lock()
			return
		}
		st.mu.Lock()
	}
}

// finish records the handler's result and wakes the calls that wait
// for it.
func (st *stream) finish(reply []byte, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.done = true
	switch {
	case err != nil:
		st.err = toRemoteError(st.ctx, err)
		st.out, st.part = nil, nil // a download's unsent chunks
	case st.upload:
		st.reply = reply
	default:
		st.flushLocked()
		st.appendChunksLocked(reply)
	}
	if st.upload { // the handler reads no more
		st.slots, st.cur = nil, nil
	}
	st.notifyLocked()
}

// violation aborts the stream after a call that broke the protocol.
func (st *stream) violation(format string, args ...any) error {
	e := NewError(CodeBadRequest, "stream %v: "+format, append([]any{st.id}, args...)...)
	st.abort(fmt.Errorf("core: %s: %w", e.Message, context.Canceled))
	return e
}

// resultLocked answers with the handler's result: an upload's reply
// (status done), or the handler's error. The stream stays until the
// caller says it has the result, by a close after the reply or an
// abort after the error, or falls silent: calls in flight beside the
// one that saw the result first get the same answer.
func (st *stream) resultLocked() ([]byte, error) {
	if st.err != nil {
		return nil, st.err
	}
	return encodeStream(streamMsg{code: uint8(statusDone), id: st.id}, st.reply), nil
}

// goneError is the answer to a call on a stream that ended before its
// handler did (aborted, reaped, past its deadline, or the node closing).
func (st *stream) goneError(cause error) error { return st.ss.goneError(st.id, cause) }

func (ss *streamService) goneError(id streamID, cause error) error {
	if errors.Is(cause, context.DeadlineExceeded) {
		return NewError(CodeDeadlineExceeded, "stream %v: %v", id, cause)
	}
	if ss.p.Context().Err() != nil {
		return errStopping(ss.p.name)
	}
	return NewError(CodeCanceled, "stream %v: %v", id, cause)
}

// reply encodes an answer on this stream.
func (st *stream) replyMsg(status streamStatus, seq uint64, arg uint32, payload []byte) []byte {
	return encodeStream(streamMsg{code: uint8(status), id: st.id, seq: seq, arg: arg}, payload)
}
