package core

import (
	"context"
	"time"
)

// The provider's side of a download: the handler's Reply fills the
// window, read calls drain it.

// downloadWriter is StreamRequest.Reply: the handler's end of a download.
type downloadWriter struct{ st *stream }

func (w downloadWriter) Write(p []byte) (int, error) {
	st := w.st
	if st.upload {
		return 0, ErrStreamDirection
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	n := 0
	for len(p) > 0 {
		if cause := st.endedLocked(); cause != nil {
			return n, cause
		}
		if st.done {
			return n, ErrClosed // written after the handler returned
		}
		if st.part == nil {
			if len(st.out) >= st.ss.cfg.window {
				st.waitLocked()
				continue
			}
			st.part = make([]byte, streamHeaderLen, streamHeaderLen+st.ss.cfg.chunk)
		}
		k := copy(st.part[len(st.part):cap(st.part)], p)
		st.part = st.part[:len(st.part)+k]
		p, n = p[k:], n+k
		if len(st.part) == cap(st.part) {
			st.out = append(st.out, st.part)
			st.part = nil
			st.notifyLocked() // a chunk for a waiting read
		}
	}
	if st.part != nil {
		st.notifyLocked() // a part for a waiting read
	}
	return n, nil
}

// flushLocked makes the chunk being written available to reads.
func (st *stream) flushLocked() {
	if len(st.part) > streamHeaderLen {
		st.out = append(st.out, st.part)
	}
	st.part = nil
}

// appendChunksLocked queues a copy of b as chunks.
func (st *stream) appendChunksLocked(b []byte) {
	for c := st.ss.cfg.chunk; len(b) > 0; {
		k := min(c, len(b))
		st.out = append(st.out, append(make([]byte, streamHeaderLen, streamHeaderLen+k), b[:k]...))
		b = b[k:]
	}
}

// read answers with the chunks from m.seq on, up to m.arg bytes (at
// least one chunk; 0 means the window), after waiting for one as the
// stream's parked call. The last answer has status done and ends the
// stream; "pending" means nothing was ready yet.
func (st *stream) read(ctx context.Context, deadline time.Time, m streamMsg) ([]byte, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	switch {
	case st.upload:
		return nil, st.violation("read on an upload")
	case m.seq != st.outSeq:
		return nil, st.violation("read from chunk %d, the next is %d", m.seq, st.outSeq)
	}
	st.parkLocked(ctx, deadline, func() bool { return st.done || len(st.out) > 0 || len(st.part) > streamHeaderLen })
	if st.err != nil {
		return st.resultLocked()
	}
	if cause := st.endedLocked(); cause != nil {
		return nil, st.goneError(cause)
	}
	if len(st.out) == 0 {
		st.flushLocked() // the handler is slow: send what it wrote so far
	}
	if len(st.out) == 0 && !st.done {
		return st.replyMsg(statusPending, st.outSeq, 0, nil), nil
	}
	chunks := st.takeLocked(m.arg)
	first := st.outSeq
	st.outSeq += uint64(len(chunks))
	st.notifyLocked() // room for the handler
	status := statusOK
	if st.done && len(st.out) == 0 {
		status = statusDone
		st.abort(errStreamDone)
	}
	return encodeChunks(streamMsg{code: uint8(status), id: st.id, seq: first, arg: uint32(len(chunks))}, chunks), nil
}

// takeLocked removes the chunks of one read reply from out: at most max
// bytes (the window's if 0 or more), at least one chunk if there is one.
func (st *stream) takeLocked(max uint32) [][]byte {
	budget := st.ss.cfg.window * st.ss.cfg.chunk
	if max > 0 && int(max) < budget {
		budget = int(max)
	}
	n, size := 0, 0
	for n < len(st.out) && (n == 0 || size+len(st.out[n])-streamHeaderLen <= budget) {
		size += len(st.out[n]) - streamHeaderLen
		n++
	}
	chunks := st.out[:n:n]
	st.out = st.out[n:]
	if len(st.out) == 0 {
		st.out = nil
	}
	return chunks
}

// encodeChunks returns a body of m's header and the chunks, joined.
// Every chunk starts with room for a header: one chunk is sent as it
// is, with the header written in; several are copied into a new body.
func encodeChunks(m streamMsg, chunks [][]byte) []byte {
	if len(chunks) == 1 {
		putStreamHeader(chunks[0], m)
		return chunks[0]
	}
	n := streamHeaderLen
	for _, c := range chunks {
		n += len(c) - streamHeaderLen
	}
	b := appendStreamHeader(make([]byte, 0, n), m)
	for _, c := range chunks {
		b = append(b, c[streamHeaderLen:]...)
	}
	return b
}
