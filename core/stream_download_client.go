package core

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Download sends req to a provider of service (a stream service, see
// HandleStream) and returns a reader of the handler's reply stream,
// which may be far larger than one message. The reader fetches one
// chunk (as the provider says: by default 1 MiB) when its buffer runs
// dry, so it holds one chunk at a time, while the provider produces a
// window of chunks ahead (by default 4). The first call
// picks the provider as Call does (or opts pin it); every later call of
// the stream goes to the same node.
//
// The stream lives within ctx: reads after ctx ends fail. req is
// copied before Download returns. Read returns io.EOF after the last
// byte, or the handler's error as a *RemoteError, or a call's error;
// the bytes it copies out are the caller's. The reader is for one
// goroutine at a time. Close it: closing before io.EOF tells the
// provider to drop the stream (its handler sees its context cancelled);
// Close is idempotent. A reader left unclosed is reaped by the provider
// after its idle timeout.
func (p *Peer) Download(ctx context.Context, service string, req []byte, opts ...CallOption) (io.ReadCloser, error) {
	s, err := p.openStream(ctx, service, opOpenDownload, req, opts)
	if err != nil {
		return nil, err
	}
	return &downloadReader{s: s, ctx: ctx}, nil
}

// downloadReader is the caller's end of a download. It keeps the
// context Download was given: the stream's lifetime, as an
// http.Response body keeps its request's.
type downloadReader struct {
	s      *streamCall
	ctx    context.Context
	seq    uint64 // the next chunk to fetch
	buf    []byte // fetched, not yet read
	eof    bool
	err    error
	closed bool
}

// errDownloadClosed is what reads of a closed download return.
var errDownloadClosed = errors.New("core: read from a closed download")

func (r *downloadReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		switch {
		case r.err != nil:
			return 0, r.err
		case r.eof:
			return 0, io.EOF
		}
		r.fetch()
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// fetch asks for the chunks from r.seq on; the provider waits a while
// for them, and answers "pending" when none came.
func (r *downloadReader) fetch() {
	m, pay, err := r.s.call(r.ctx, r.s.msg(opRead, r.seq, uint32(r.s.chunk)))
	if err == nil {
		err = r.take(m, pay)
	}
	if err != nil {
		r.err = err
		r.s.abort(r.ctx, err)
	}
}

// take records one read reply.
func (r *downloadReader) take(m streamMsg, pay []byte) error {
	status := streamStatus(m.code)
	switch {
	case status == statusPending:
		return nil
	case m.seq != r.seq || (m.arg == 0 && len(pay) > 0):
		return fmt.Errorf("core: download from %q: %w: chunks from %d (%d), want from %d", r.s.service, errBadStreamHeader, m.seq, m.arg, r.seq)
	}
	r.seq += uint64(m.arg)
	r.buf = pay
	r.eof = status == statusDone
	return nil
}

// Close ends the download; before io.EOF it aborts the stream.
func (r *downloadReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	if !r.eof && r.err == nil {
		r.s.abort(r.ctx, errors.New("core: the caller closed the download"))
	}
	r.buf, r.err = nil, errDownloadClosed
	return nil
}
