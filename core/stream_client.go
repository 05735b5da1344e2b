package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// The caller's side of streams, common to Upload and Download: opening
// a stream on one provider and pinning its other calls to it.

// streamCall is an open stream as its caller knows it.
type streamCall struct {
	p       *Peer
	service string
	id      streamID
	node    string // the provider, named in the open's reply
	window  int    // chunks in flight at most
	chunk   int    // bytes per chunk at most
	opts    []CallOption
}

// Bounds a caller puts on what a provider asks of it: a stream never
// makes its caller hold more than maxClientWindow chunks of
// maxStreamChunk bytes.
const maxClientWindow = 16

// openStream opens a stream of service; op says which kind.
func (p *Peer) openStream(ctx context.Context, service string, op streamOp, body []byte, opts []CallOption) (*streamCall, error) {
	req := encodeStream(streamMsg{code: uint8(op), arg: streamTimeoutMS(ctx)}, body)
	reply, err := p.Call(ctx, service, req, opts...)
	if err != nil {
		return nil, err
	}
	m, node, err := decodeStreamReply(reply)
	switch {
	case err != nil:
		return nil, fmt.Errorf("core: opening a stream of %q: %w", service, err)
	case streamStatus(m.code) != statusOK || m.id == (streamID{}) || len(node) == 0:
		return nil, fmt.Errorf("core: opening a stream of %q: %w: status %d, no stream id or node", service, errBadStreamHeader, m.code)
	case m.arg < 1 || m.arg > maxStreamChunk || m.seq < 1:
		return nil, fmt.Errorf("core: opening a stream of %q: %w: chunk %d, window %d", service, errBadStreamHeader, m.arg, m.seq)
	}
	s := &streamCall{
		p: p, service: service, id: m.id, node: string(node),
		window: int(min(m.seq, maxClientWindow)), chunk: int(m.arg),
	}
	// Every later call goes to the node that holds the stream.
	s.opts = append(slices.Clip(opts), OnNode(s.node))
	return s, nil
}

// Retries of a stream's calls that the provider had no room for.
const (
	streamRetries    = 50
	streamBackoffMin = 5 * time.Millisecond
	streamBackoffMax = 200 * time.Millisecond
)

// call makes one call of the stream and decodes its reply. A call the
// provider refused as overloaded did not run (its request queues were
// full: several streams share a connection's room), so it is made
// again after a pause, up to streamRetries times within ctx.
func (s *streamCall) call(ctx context.Context, body []byte) (streamMsg, []byte, error) {
	reply, err := s.p.Call(ctx, s.service, body, s.opts...)
	for i, pause := 0, streamBackoffMin; errors.Is(err, ErrOverloaded) && i < streamRetries; i++ {
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return streamMsg{}, nil, err
		case <-t.C:
		}
		pause = min(2*pause, streamBackoffMax)
		reply, err = s.p.Call(ctx, s.service, body, s.opts...)
	}
	if err != nil {
		return streamMsg{}, nil, err
	}
	m, payload, err := decodeStreamReply(reply)
	if err != nil {
		return m, nil, fmt.Errorf("core: stream of %q on %q: %w", s.service, s.node, err)
	}
	if m.id != s.id {
		return m, nil, fmt.Errorf("core: stream of %q on %q: %w: a reply for stream %v", s.service, s.node, errBadStreamHeader, m.id)
	}
	return m, payload, nil
}

// msg returns a request body of the stream without payload.
func (s *streamCall) msg(op streamOp, seq uint64, arg uint32) []byte {
	return encodeStream(streamMsg{code: uint8(op), id: s.id, seq: seq, arg: arg}, nil)
}

// abort tells the provider to drop the stream (it keeps a stream whose
// handler failed until its caller has seen the error). It does not wait
// long, and not for a cancelled ctx: it is the last word of a failed
// stream.
func (s *streamCall) abort(ctx context.Context, err error) {
	if errors.Is(err, ErrClosed) {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	reason := []byte("")
	if err != nil {
		reason = []byte(err.Error())
	}
	body := encodeStream(streamMsg{code: uint8(opAbort), id: s.id}, reason[:min(len(reason), 200)])
	s.p.Call(ctx, s.service, body, s.opts...)
}
