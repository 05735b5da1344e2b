package consensus

import (
	"context"
	"io"

	"github.com/gozmp/zmp/core"
	"github.com/hashicorp/raft"
)

// The handlers decode a request, hand it to raft as a raft.RPC and
// encode raft's answer. A request that does not decode is refused with
// core.CodeBadRequest; raft's error is returned as core.CodeHandler.

func badRequest(err error) error {
	return core.NewError(core.CodeBadRequest, "%v", err)
}

// isHeartbeat reports whether r is a heartbeat, as raft's
// NetworkTransport decides it: a term and a leader, and nothing else.
func isHeartbeat(r *raft.AppendEntriesRequest) bool {
	leader := r.RPCHeader.Addr
	if len(leader) == 0 {
		leader = r.Leader
	}
	return r.Term != 0 && leader != nil && r.PrevLogEntry == 0 && r.PrevLogTerm == 0 &&
		len(r.Entries) == 0 && r.LeaderCommitIndex == 0
}

func (t *Transport) serveHeartbeat(ctx context.Context, req *core.Request) ([]byte, error) {
	return t.serveAppendEntries(ctx, req)
}

func (t *Transport) serveAppend(ctx context.Context, req *core.Request) ([]byte, error) {
	return t.serveAppendEntries(ctx, req)
}

// serveAppendEntries serves both append services: the heartbeat one
// differs only in its handler pool. A heartbeat goes to the fast path
// when raft has set one.
func (t *Transport) serveAppendEntries(ctx context.Context, req *core.Request) ([]byte, error) {
	args, pipe, seq, err := decodeAnyAppendRequest(req.Body)
	if err != nil {
		t.stats.bad.Add(1)
		return nil, badRequest(err)
	}
	hb := isHeartbeat(args) && seq == 0
	if hb {
		t.stats.heartbeat.received.Add(1)
	} else {
		t.stats.append.received.Add(1)
	}
	var taken func()
	if seq != 0 {
		q := t.pipes.get(pipe)
		if err := t.pipes.await(ctx, q, seq, t.done); err != nil {
			return nil, err
		}
		taken = func() { t.pipes.advance(q, seq) }
	}
	resp, err := t.dispatch(ctx, raft.RPC{Command: args}, hb, taken)
	if err != nil {
		return nil, err
	}
	r, ok := resp.(*raft.AppendEntriesResponse)
	if !ok {
		return nil, core.NewError(core.CodeHandler, "consensus: raft answered AppendEntries with %T", resp)
	}
	return encodeAppendResponse(r), nil
}

func (t *Transport) serveVote(ctx context.Context, req *core.Request) ([]byte, error) {
	args, err := decodeVoteRequest(req.Body)
	if err != nil {
		t.stats.bad.Add(1)
		return nil, badRequest(err)
	}
	t.stats.vote.received.Add(1)
	resp, err := t.dispatch(ctx, raft.RPC{Command: args}, false, nil)
	if err != nil {
		return nil, err
	}
	r, ok := resp.(*raft.RequestVoteResponse)
	if !ok {
		return nil, core.NewError(core.CodeHandler, "consensus: raft answered RequestVote with %T", resp)
	}
	return encodeVoteResponse(r), nil
}

func (t *Transport) servePreVote(ctx context.Context, req *core.Request) ([]byte, error) {
	args, err := decodePreVoteRequest(req.Body)
	if err != nil {
		t.stats.bad.Add(1)
		return nil, badRequest(err)
	}
	t.stats.preVote.received.Add(1)
	resp, err := t.dispatch(ctx, raft.RPC{Command: args}, false, nil)
	if err != nil {
		return nil, err
	}
	r, ok := resp.(*raft.RequestPreVoteResponse)
	if !ok {
		return nil, core.NewError(core.CodeHandler, "consensus: raft answered RequestPreVote with %T", resp)
	}
	return encodePreVoteResponse(r), nil
}

func (t *Transport) serveTimeoutNow(ctx context.Context, req *core.Request) ([]byte, error) {
	args, err := decodeTimeoutNowRequest(req.Body)
	if err != nil {
		t.stats.bad.Add(1)
		return nil, badRequest(err)
	}
	t.stats.timeoutNow.received.Add(1)
	resp, err := t.dispatch(ctx, raft.RPC{Command: args}, false, nil)
	if err != nil {
		return nil, err
	}
	r, ok := resp.(*raft.TimeoutNowResponse)
	if !ok {
		return nil, core.NewError(core.CodeHandler, "consensus: raft answered TimeoutNow with %T", resp)
	}
	return encodeTimeoutNowResponse(r), nil
}

// serveSnapshot hands raft the stream's body as the snapshot's reader.
// raft reads it to its end (Size bytes) before answering.
func (t *Transport) serveSnapshot(ctx context.Context, req *core.StreamRequest) ([]byte, error) {
	args, err := decodeSnapshotRequest(req.Header)
	if err != nil {
		t.stats.bad.Add(1)
		return nil, badRequest(err)
	}
	t.stats.snapshot.received.Add(1)
	body := &countingReader{r: io.LimitReader(req.Body, args.Size), n: &t.stats.snapshotBytesIn}
	resp, err := t.dispatch(ctx, raft.RPC{Command: args, Reader: body}, false, nil)
	if err != nil {
		return nil, err
	}
	r, ok := resp.(*raft.InstallSnapshotResponse)
	if !ok {
		return nil, core.NewError(core.CodeHandler, "consensus: raft answered InstallSnapshot with %T", resp)
	}
	return encodeSnapshotResponse(r), nil
}

// dispatch gives rpc to raft (the heartbeat handler when heartbeat and
// one is set, else the consumer channel) and waits for its answer
// until ctx ends or the transport closes. Once raft has taken an RPC
// with a reader (a snapshot), it waits for the answer regardless of
// ctx: raft reads the stream until it ends, which ctx's end causes,
// and the stream's body must not be read after its handler returned.
// taken, if not nil, is called once the RPC is given to raft or could
// not be: a pipeline's next request may then go.
func (t *Transport) dispatch(ctx context.Context, rpc raft.RPC, heartbeat bool, taken func()) (any, error) {
	if taken == nil {
		taken = func() {}
	}
	if !t.enter() {
		taken()
		return nil, core.NewError(core.CodeUnavailable, "consensus: transport closed")
	}
	defer t.leave()
	respCh := make(chan raft.RPCResponse, 1)
	rpc.RespChan = respCh
	if fn := t.heartbeat.Load(); heartbeat && fn != nil {
		t.stats.heartbeatFast.Add(1)
		taken()
		(*fn)(rpc)
	} else {
		select {
		case t.consumer <- rpc:
			taken()
		case <-ctx.Done():
			taken()
			return nil, core.NewError(core.CodeDeadlineExceeded, "consensus: raft did not take the RPC: %v", ctx.Err())
		case <-t.done:
			taken()
			return nil, core.NewError(core.CodeUnavailable, "consensus: transport closed")
		}
	}
	ctxDone := ctx.Done()
	if rpc.Reader != nil {
		ctxDone = nil
	}
	select {
	case resp := <-respCh:
		if resp.Error != nil {
			return nil, core.NewError(core.CodeHandler, "%v", resp.Error)
		}
		return resp.Response, nil
	case <-ctxDone:
		return nil, core.NewError(core.CodeDeadlineExceeded, "consensus: raft did not answer: %v", ctx.Err())
	case <-t.done:
		return nil, core.NewError(core.CodeUnavailable, "consensus: transport closed")
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n interface{ Add(int64) int64 }
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
