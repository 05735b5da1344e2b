package core

import (
	"context"
	"fmt"
	"io"
	"sync"
)

// Upload sends header and then body, read to its end (or until the
// handler returns early), to a provider of
// service (a stream service, see HandleStream) in chunks, and returns
// the handler's small reply. It holds at most a window of chunks (as
// the provider says: by default 4 of 1 MiB) of body at once; the bytes
// cross however large body is. The first call picks the provider as
// Call does (or opts pin it); every later call of the stream goes to
// the same node.
//
// The whole upload ends by ctx; a ctx without a deadline gives each
// call of it the peer's call timeout, but not the whole stream. header
// is copied before the open returns; body is read from one goroutine,
// and not after Upload returns. The reply belongs to the caller.
// Errors: those of Call, the handler's as a *RemoteError, and body's
// read error (wrapped). On an error the provider is told to drop the
// stream (its handler sees its context cancelled).
func (p *Peer) Upload(ctx context.Context, service string, header []byte, body io.Reader, opts ...CallOption) ([]byte, error) {
	s, err := p.openStream(ctx, service, opOpenUpload, header, opts)
	if err != nil {
		return nil, err
	}
	reply, err := s.upload(ctx, body)
	if err != nil {
		s.abort(ctx, err)
		return nil, err
	}
	return reply, nil
}

// uploader sends one upload's chunks, a window of calls at a time.
type uploader struct {
	s       *streamCall
	ctx     context.Context
	wg      sync.WaitGroup
	results chan dataResult // capacity window: senders never block
	free    [][]byte        // buffers whose calls have returned
	made    int             // buffers allocated
	flying  int             // calls in flight
	limit   uint64          // the first chunk the provider does not take yet
	done    bool            // the handler answered early: send no more
}

// dataResult is the outcome of one data call.
type dataResult struct {
	buf []byte
	m   streamMsg
	err error
}

func (s *streamCall) upload(ctx context.Context, body io.Reader) ([]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	u := &uploader{s: s, ctx: ctx, results: make(chan dataResult, s.window), limit: uint64(s.window)}
	defer u.wg.Wait()
	defer cancel() // runs first: calls in flight end at once
	seq, err := u.sendAll(body)
	if err == nil {
		err = u.drain()
	}
	if err != nil {
		return nil, err
	}
	return u.close(seq) // after an early reply too: it ends the stream
}

// sendAll reads body chunk by chunk and sends the chunks; it returns
// their number.
func (u *uploader) sendAll(body io.Reader) (uint64, error) {
	var seq uint64
	for !u.done {
		buf, err := u.buffer()
		if err != nil {
			return seq, err
		}
		n, rerr := io.ReadFull(body, buf[streamHeaderLen:])
		if n > 0 {
			if err := u.room(seq); err != nil || u.done {
				return seq, err
			}
			u.send(seq, buf[:streamHeaderLen+n])
			seq++
		} else {
			u.free = append(u.free, buf)
		}
		switch {
		case rerr == io.EOF || rerr == io.ErrUnexpectedEOF:
			return seq, nil
		case rerr != nil:
			return seq, fmt.Errorf("core: reading the body of an upload to %q: %w", u.s.service, rerr)
		}
	}
	return seq, nil
}

// buffer returns a buffer for one chunk and its header, waiting for a
// call to return when window buffers are in use.
func (u *uploader) buffer() ([]byte, error) {
	for len(u.free) == 0 {
		if u.made < u.s.window {
			u.made++
			return make([]byte, streamHeaderLen+u.s.chunk), nil
		}
		if err := u.collect(); err != nil {
			return nil, err
		}
	}
	buf := u.free[len(u.free)-1]
	u.free = u.free[:len(u.free)-1]
	return buf[:cap(buf)], nil
}

// room waits until the provider takes chunk seq.
func (u *uploader) room(seq uint64) error {
	for seq >= u.limit && !u.done {
		if u.flying > 0 {
			if err := u.collect(); err != nil {
				return err
			}
			continue
		}
		m, _, err := u.s.call(u.ctx, u.s.msg(opWait, seq, 0))
		if err != nil {
			return err
		}
		u.take(m)
	}
	return nil
}

// send starts the call that carries one chunk.
func (u *uploader) send(seq uint64, buf []byte) {
	putStreamHeader(buf, streamMsg{code: uint8(opData), id: u.s.id, seq: seq})
	u.flying++
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		m, _, err := u.s.call(u.ctx, buf)
		u.results <- dataResult{buf: buf, m: m, err: err}
	}()
}

// collect waits for one call in flight to return.
func (u *uploader) collect() error {
	r := <-u.results
	u.flying--
	u.free = append(u.free, r.buf)
	switch {
	case u.done:
		return nil // the stream ended with a reply: later calls do not matter
	case r.err != nil:
		return r.err
	}
	u.take(r.m)
	return nil
}

// take records what a data or wait reply says.
func (u *uploader) take(m streamMsg) {
	if streamStatus(m.code) == statusDone {
		u.done = true
		return
	}
	u.limit = max(u.limit, m.seq)
}

// drain waits for every call in flight.
func (u *uploader) drain() error {
	var first error
	for u.flying > 0 {
		if err := u.collect(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// close tells the provider the upload had n chunks and waits for the
// handler's reply.
func (u *uploader) close(n uint64) ([]byte, error) {
	for {
		m, pay, err := u.s.call(u.ctx, u.s.msg(opClose, n, 0))
		switch {
		case err != nil:
			return nil, err
		case streamStatus(m.code) == statusDone:
			return pay, nil
		case streamStatus(m.code) != statusPending:
			return nil, fmt.Errorf("core: closing an upload to %q: %w: status %d", u.s.service, errBadStreamHeader, m.code)
		}
	}
}
