package consensus

import (
	"errors"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/hashicorp/raft"
)

// A pipeline's requests reach the follower's raft in the order sent,
// though its handlers run them concurrently, and its futures come back
// in that order too.
func TestTransportPipelineOrder(t *testing.T) {
	trEachTransport(t, func(t *testing.T, e *trEnv) {
		a, b, r := trPair(t, e, WithPipelineDepth(8))
		p, err := a.AppendEntriesPipeline("b", b.LocalAddr())
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		const n = 200
		done := make(chan error, 1)
		go func() {
			for i := 1; i <= n; i++ {
				req := &raft.AppendEntriesRequest{RPCHeader: trHeader(3), Term: 3, PrevLogEntry: uint64(i), Entries: trEntries()}
				if _, err := p.AppendEntries(req, new(raft.AppendEntriesResponse)); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		for i := 1; i <= n; i++ {
			got := r.next(t).(*raft.AppendEntriesRequest)
			if got.PrevLogEntry != uint64(i) {
				t.Fatalf("request %d reached raft as number %d", got.PrevLogEntry, i)
			}
			select {
			case f := <-p.Consumer():
				if f.Error() != nil || f.Request().PrevLogEntry != uint64(i) || !f.Response().Success {
					t.Fatalf("future %d: %v, request %d, response %+v", i, f.Error(), f.Request().PrevLogEntry, f.Response())
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("no future %d", i)
			}
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := p.AppendEntries(&raft.AppendEntriesRequest{}, new(raft.AppendEntriesResponse)); !errors.Is(err, raft.ErrPipelineShutdown) {
			t.Fatalf("after close: %v", err)
		}
	})
}

// A hostile caller's pipelined requests out of turn wait for their
// predecessors until their deadline, and an old sequence number is
// refused; neither blocks other callers.
func TestTransportPipelineHostile(t *testing.T) {
	e := trNewEnv(t, core.TCP)
	a, b, r := trPair(t, e)
	caller := e.peer("hostile")
	ctx := trCtx(t, 2*time.Second)
	req := &raft.AppendEntriesRequest{RPCHeader: trHeader(3), Term: 3, PrevLogEntry: 1}
	_, err := caller.Call(ctx, "raft"+svcAppend, encodePipedAppendRequest(99, 2, req), core.At(string(b.LocalAddr())))
	var re *core.RemoteError
	if !errors.As(err, &re) || re.Code != core.CodeDeadlineExceeded {
		if !errors.Is(err, core.ErrTimeout) {
			t.Fatalf("request 2 without 1: %v", err)
		}
	}
	if _, err := caller.Call(trCtx(t, 30*time.Second), "raft"+svcAppend, encodePipedAppendRequest(99, 1, req), core.At(string(b.LocalAddr()))); err != nil {
		t.Fatalf("request 1: %v", err)
	}
	r.next(t)
	_, err = caller.Call(trCtx(t, 30*time.Second), "raft"+svcAppend, encodePipedAppendRequest(99, 1, req), core.At(string(b.LocalAddr())))
	if !errors.As(err, &re) || re.Code != core.CodeBadRequest {
		t.Fatalf("request 1 again: %v, want CodeBadRequest", err)
	}
	var resp raft.AppendEntriesResponse
	if err := a.AppendEntries("b", b.LocalAddr(), req, &resp); err != nil || !resp.Success {
		t.Fatalf("plain append after: %v", err)
	}
	r.next(t)
	for i := uint64(0); i < 3*pipeSequencers; i++ {
		if _, err := caller.Call(trCtx(t, 30*time.Second), "raft"+svcAppend, encodePipedAppendRequest(1000+i, 1, req), core.At(string(b.LocalAddr()))); err != nil {
			t.Fatal(err)
		}
		r.next(t)
	}
	b.pipes.mu.Lock()
	n := len(b.pipes.seqs)
	b.pipes.mu.Unlock()
	if n > pipeSequencers {
		t.Fatalf("%d sequencers kept", n)
	}
}
