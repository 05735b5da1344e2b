package core

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"sync"
	"time"
)

// HandleStream provides service as a stream service: callers send it
// bodies larger than one message with Upload, or read such bodies from
// it with Download. The service is an ordinary service underneath (it
// is listed, and answers Call with the chunking protocol of
// docs/protocol.md section 6), so HandleStream replaces a handler of
// the same name, and Handle or Withdraw of the name replace or remove
// the stream service. Streams opened under an earlier HandleStream of
// the name are not reachable from a later one.
//
// Each stream's handler runs on a goroutine of its own, which the
// peer's Close cancels and waits for; the calls that
// carry its chunks run on the peer's request workers and never wait
// there longer than a second (room, data or the handler's end is
// awaited by at most one call per stream at a time). Options are
// validated; see StreamChunk, StreamWindow, StreamLimits and
// StreamIdleTimeout for the defaults. The limits on open streams apply
// to this service: a peer with several stream services admits the sum.
func (p *Peer) HandleStream(service string, h StreamHandler, opts ...StreamOption) error {
	_, err := p.handleStream(service, h, opts)
	return err
}

// handleStream is HandleStream; it returns the service's state.
func (p *Peer) handleStream(service string, h StreamHandler, opts []StreamOption) (*streamService, error) {
	if h == nil {
		return nil, errors.New("core: HandleStream with a nil handler")
	}
	cfg, err := buildStreamConfig(opts)
	if err != nil {
		return nil, err
	}
	ss := &streamService{p: p, name: service, cfg: cfg, h: h, streams: map[streamID]*stream{}, perConn: map[any]int{}}
	return ss, p.HandleFunc(service, ss.serve)
}

// streamService is the state of one HandleStream: its open streams.
type streamService struct {
	p    *Peer
	name string
	cfg  streamConfig
	h    StreamHandler

	mu      sync.Mutex
	streams map[streamID]*stream // reachable by callers
	held    int                  // holding a slot: reachable, or handler still running
	perConn map[any]int          // slots per caller connection
	tombs   []tomb               // why streams ended, lately (stream_tombs.go)
}

// serve answers one call of the chunking protocol.
func (ss *streamService) serve(ctx context.Context, r *Request) ([]byte, error) {
	m, payload, err := decodeStreamRequest(r.Body)
	if err != nil {
		return nil, NewError(CodeBadRequest, "%v", err)
	}
	op := streamOp(m.code)
	if op == opOpenUpload || op == opOpenDownload {
		return ss.open(r, m, payload)
	}
	st := ss.lookup(m.id, r.conn)
	if st == nil {
		if cause := ss.endedCause(m.id, r.conn); cause != nil {
			return nil, ss.goneError(m.id, cause)
		}
		return nil, NewError(CodeBadRequest, "no open stream %v on node %q (it ended, was aborted or reaped, or was opened on another connection)", m.id, ss.p.name)
	}
	st.touch()
	defer st.touch()
	switch op {
	case opData:
		return st.data(m, payload)
	case opWait:
		return st.wait(ctx, r.Deadline, m)
	case opRead:
		return st.read(ctx, r.Deadline, m)
	case opClose:
		return st.close(ctx, r.Deadline, m)
	default: // opAbort
		st.abort(fmt.Errorf("core: the caller aborted the stream: %.200s", payload))
		return encodeStream(streamMsg{code: uint8(statusOK), id: m.id}, nil), nil
	}
}

// open starts a stream and its handler, or refuses it as overloaded.
func (ss *streamService) open(r *Request, m streamMsg, header []byte) ([]byte, error) {
	upload := streamOp(m.code) == opOpenUpload
	key := any(r.conn)
	ss.mu.Lock()
	held, onConn := ss.held, ss.perConn[key]
	switch {
	case held >= ss.cfg.max:
		ss.mu.Unlock()
		return nil, NewError(CodeOverloaded, "node %q: %d streams of %q open, the limit", ss.p.name, held, ss.name)
	case onConn >= ss.cfg.maxPerConn:
		ss.mu.Unlock()
		return nil, NewError(CodeOverloaded, "node %q: %d streams of %q open on this connection, the limit", ss.p.name, onConn, ss.name)
	}
	ss.held++
	ss.perConn[key]++
	st := newStream(ss, key, upload, m.arg)
	ss.streams[st.id] = st
	ss.mu.Unlock()
	ss.p.trackStreams(ss)

	req := &StreamRequest{
		Service: ss.name, Header: header, From: r.From, User: r.User, ClientKey: r.ClientKey,
		Body: uploadBody{st}, Reply: downloadWriter{st},
	}
	req.Deadline, _ = st.ctx.Deadline()
	// The peer's Close waits for the handler: it waits for the request
	// workers (this is one) before it waits for the peer's goroutines,
	// so this Add comes before that Wait.
	ss.p.wg.Add(1)
	go ss.run(st, req)
	reply := streamMsg{code: uint8(statusOK), id: st.id, seq: uint64(ss.cfg.window), arg: uint32(ss.cfg.chunk)}
	return encodeStream(reply, []byte(ss.p.name)), nil
}

// run runs a stream's handler on its own goroutine and records its end.
func (ss *streamService) run(st *stream, req *StreamRequest) {
	defer ss.p.wg.Done()
	reply, err := invokeStream(st.ctx, ss.h, req)
	st.finish(reply, err)
	ss.release(st)
}

// invokeStream calls h, turning a panic into a CodePanic error.
func invokeStream(ctx context.Context, h StreamHandler, req *StreamRequest) (body []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &RemoteError{Code: CodePanic, Message: fmt.Sprint(r), Detail: string(debug.Stack())}
		}
	}()
	return h.ServeStream(ctx, req)
}

// lookup finds a stream opened on connection key.
func (ss *streamService) lookup(id streamID, key any) *stream {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if st := ss.streams[id]; st != nil && st.conn == key {
		return st
	}
	return nil
}

// forget makes st unreachable by callers; it reports whether it was.
func (ss *streamService) forget(st *stream) bool {
	ss.mu.Lock()
	_, ok := ss.streams[st.id]
	delete(ss.streams, st.id)
	if ok {
		ss.buryLocked(st)
	}
	ss.mu.Unlock()
	if ok {
		ss.release(st)
	}
	return ok
}

// release drops one of st's two holds on its slot (being reachable,
// its handler running); the slot is free when both are gone.
func (ss *streamService) release(st *stream) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if st.holds--; st.holds > 0 {
		return
	}
	ss.held--
	if ss.perConn[st.conn]--; ss.perConn[st.conn] <= 0 {
		delete(ss.perConn, st.conn)
	}
	if ss.held == 0 {
		ss.p.untrackStreams(ss)
	}
}

// openStreams reports the slots held (for tests and stats).
func (ss *streamService) openStreams() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.held
}

func newStreamID() streamID {
	var id streamID
	rand.Read(id[:])
	return id
}

// parkUntil is how long a call that arrived with deadline may wait on
// the provider: a second, less a margin for the reply before the
// caller's deadline.
func parkUntil(deadline time.Time) time.Time {
	end := time.Now().Add(streamPark)
	if !deadline.IsZero() {
		if d := deadline.Add(-100 * time.Millisecond); d.Before(end) {
			end = d
		}
	}
	return end
}

// streamTimeoutMS is what an open tells the provider of the caller's
// deadline for the whole stream: 0 for none.
func streamTimeoutMS(ctx context.Context) uint32 {
	d, ok := ctx.Deadline()
	if !ok {
		return 0
	}
	return uint32(min(max(time.Until(d).Milliseconds(), 1), math.MaxUint32))
}
