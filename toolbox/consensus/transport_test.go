package consensus

import (
	"bytes"
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/hashicorp/raft"
)

// trResponder answers the RPCs on tr's consumer channel with canned
// responses, and records the commands (and snapshot bytes) it saw.
type trResponder struct {
	got  chan raft.RPC
	snap chan []byte
	stop chan struct{}
	done chan struct{}
}

func trRespond(t *testing.T, tr *Transport) *trResponder {
	r := &trResponder{got: make(chan raft.RPC, 16), snap: make(chan []byte, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for {
			select {
			case rpc := <-tr.Consumer():
				r.answer(rpc)
			case <-r.stop:
				return
			}
		}
	}()
	t.Cleanup(func() { close(r.stop); <-r.done })
	return r
}

func (r *trResponder) answer(rpc raft.RPC) {
	if rpc.Reader != nil {
		b, err := io.ReadAll(rpc.Reader)
		if err != nil {
			rpc.Respond(nil, err)
			return
		}
		r.snap <- b
	}
	r.got <- rpc
	switch cmd := rpc.Command.(type) {
	case *raft.AppendEntriesRequest:
		if cmd.Term == 666 {
			rpc.Respond(nil, errors.New("refused by the test"))
			return
		}
		rpc.Respond(&raft.AppendEntriesResponse{RPCHeader: trHeader(3), Term: cmd.Term, LastLog: 42, Success: true}, nil)
	case *raft.RequestVoteRequest:
		rpc.Respond(&raft.RequestVoteResponse{RPCHeader: trHeader(3), Term: cmd.Term, Granted: true}, nil)
	case *raft.RequestPreVoteRequest:
		rpc.Respond(&raft.RequestPreVoteResponse{RPCHeader: trHeader(3), Term: cmd.Term, Granted: true}, nil)
	case *raft.TimeoutNowRequest:
		rpc.Respond(&raft.TimeoutNowResponse{RPCHeader: trHeader(3)}, nil)
	case *raft.InstallSnapshotRequest:
		rpc.Respond(&raft.InstallSnapshotResponse{RPCHeader: trHeader(3), Term: cmd.Term, Success: true}, nil)
	}
}

func (r *trResponder) next(t *testing.T) any {
	t.Helper()
	select {
	case rpc := <-r.got:
		return rpc.Command
	case <-time.After(30 * time.Second):
		t.Fatal("no RPC reached the consumer")
		return nil
	}
}

// trPair is a caller transport and a responding one.
func trPair(t *testing.T, e *trEnv, opts ...TransportOption) (*Transport, *Transport, *trResponder) {
	a := e.transport(e.peer("a"), opts...)
	b := e.transport(e.peer("b"), opts...)
	return a, b, trRespond(t, b)
}

// Each RPC crosses, arrives on the consumer channel as sent, and its
// response comes back as given.
func TestTransportRoundTrips(t *testing.T) {
	trEachTransport(t, func(t *testing.T, e *trEnv) {
		a, b, r := trPair(t, e)
		to := b.LocalAddr()

		req := &raft.AppendEntriesRequest{RPCHeader: trHeader(3), Term: 5, PrevLogEntry: 9, PrevLogTerm: 4, LeaderCommitIndex: 8, Entries: trEntries()}
		var resp raft.AppendEntriesResponse
		if err := a.AppendEntries("b", to, req, &resp); err != nil {
			t.Fatal(err)
		}
		got := r.next(t).(*raft.AppendEntriesRequest)
		trSameLogs(t, got.Entries, req.Entries)
		if got.Term != 5 || got.PrevLogEntry != 9 || got.LeaderCommitIndex != 8 || !bytes.Equal(got.Addr, req.Addr) {
			t.Fatalf("append arrived as %+v", got)
		}
		if !resp.Success || resp.LastLog != 42 || resp.Term != 5 || !reflect.DeepEqual(resp.RPCHeader, trHeader(3)) {
			t.Fatalf("append response %+v", resp)
		}

		var vr raft.RequestVoteResponse
		vreq := &raft.RequestVoteRequest{RPCHeader: trHeader(3), Term: 6, Candidate: []byte("a"), LastLogIndex: 3, LastLogTerm: 2, LeadershipTransfer: true}
		if err := a.RequestVote("b", to, vreq, &vr); err != nil {
			t.Fatal(err)
		}
		if got := r.next(t); !reflect.DeepEqual(got, vreq) || !vr.Granted || vr.Term != 6 {
			t.Fatalf("vote arrived as %+v, response %+v", got, vr)
		}

		var pr raft.RequestPreVoteResponse
		preq := &raft.RequestPreVoteRequest{RPCHeader: trHeader(3), Term: 7, LastLogIndex: 3, LastLogTerm: 2}
		if err := a.RequestPreVote("b", to, preq, &pr); err != nil {
			t.Fatal(err)
		}
		if got := r.next(t); !reflect.DeepEqual(got, preq) || !pr.Granted || pr.Term != 7 {
			t.Fatalf("prevote arrived as %+v, response %+v", got, pr)
		}

		var tr raft.TimeoutNowResponse
		treq := &raft.TimeoutNowRequest{RPCHeader: trHeader(3)}
		if err := a.TimeoutNow("b", to, treq, &tr); err != nil {
			t.Fatal(err)
		}
		if got := r.next(t); !reflect.DeepEqual(got, treq) || !reflect.DeepEqual(tr.RPCHeader, trHeader(3)) {
			t.Fatalf("timeout now arrived as %+v, response %+v", got, tr)
		}

		data := bytes.Repeat([]byte("snapshot"), 300000) // 2.4 MB: several chunks
		sreq := &raft.InstallSnapshotRequest{RPCHeader: trHeader(3), SnapshotVersion: 1, Term: 8, LastLogIndex: 100, LastLogTerm: 7,
			Configuration: []byte("conf"), ConfigurationIndex: 50, Size: int64(len(data))}
		var sr raft.InstallSnapshotResponse
		if err := a.InstallSnapshot("b", to, sreq, &sr, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		if got := r.next(t); !reflect.DeepEqual(got, sreq) || !sr.Success || sr.Term != 8 {
			t.Fatalf("snapshot arrived as %+v, response %+v", got, sr)
		}
		if got := <-r.snap; !bytes.Equal(got, data) {
			t.Fatalf("snapshot data: %d bytes, want %d", len(got), len(data))
		}
		st := a.Stats()
		if st.Append.Sent != 1 || st.Vote.Sent != 1 || st.PreVote.Sent != 1 || st.TimeoutNow.Sent != 1 || st.Snapshot.Sent != 1 || st.SnapshotBytesOut != int64(len(data)) {
			t.Fatalf("caller stats %+v", st)
		}
		if st := b.Stats(); st.Append.Received != 1 || st.SnapshotBytesIn != int64(len(data)) {
			t.Fatalf("callee stats %+v", st)
		}
	})
}

// raft's error answer reaches the caller, naming the RPC and target.
func TestTransportRaftError(t *testing.T) {
	e := trNewEnv(t, core.TCP)
	a, b, r := trPair(t, e)
	var resp raft.AppendEntriesResponse
	err := a.AppendEntries("b", b.LocalAddr(), &raft.AppendEntriesRequest{RPCHeader: trHeader(3), Term: 666, PrevLogEntry: 1}, &resp)
	r.next(t)
	var re *core.RemoteError
	if !errors.As(err, &re) || re.Code != core.CodeHandler || !strings.Contains(err.Error(), "refused by the test") ||
		!strings.Contains(err.Error(), "AppendEntries to "+string(b.LocalAddr())) {
		t.Fatalf("err %v", err)
	}
}

// Heartbeats go to the heartbeat handler when one is set, and to the
// consumer channel otherwise.
func TestTransportHeartbeatFastPath(t *testing.T) {
	trEachTransport(t, func(t *testing.T, e *trEnv) {
		a := e.transport(e.peer("a"))
		b := e.transport(e.peer("b"))
		hb := &raft.AppendEntriesRequest{RPCHeader: trHeader(3), Term: 4}
		if !isHeartbeat(hb) {
			t.Fatal("not a heartbeat")
		}
		seen := make(chan *raft.AppendEntriesRequest, 1)
		b.SetHeartbeatHandler(func(rpc raft.RPC) {
			seen <- rpc.Command.(*raft.AppendEntriesRequest)
			rpc.Respond(&raft.AppendEntriesResponse{Term: 4, Success: true}, nil)
		})
		var resp raft.AppendEntriesResponse
		if err := a.AppendEntries("b", b.LocalAddr(), hb, &resp); err != nil {
			t.Fatal(err)
		}
		if got := <-seen; got.Term != 4 || !resp.Success {
			t.Fatalf("heartbeat %+v, response %+v", got, resp)
		}
		if st := b.Stats(); st.HeartbeatFast != 1 || st.Heartbeat.Received != 1 || st.Append.Received != 0 {
			t.Fatalf("stats %+v", st)
		}
		b.SetHeartbeatHandler(nil)
		r := trRespond(t, b)
		if err := a.AppendEntries("b", b.LocalAddr(), hb, &resp); err != nil {
			t.Fatal(err)
		}
		if got := r.next(t).(*raft.AppendEntriesRequest); got.Term != 4 {
			t.Fatalf("consumer got %+v", got)
		}
	})
}

// Garbage sent to each service is refused with CodeBadRequest, and the
// transport keeps serving.
func TestTransportRefusesGarbage(t *testing.T) {
	trEachTransport(t, func(t *testing.T, e *trEnv) {
		a, b, r := trPair(t, e)
		caller := e.peer("garbage")
		ctx := trCtx(t, 30*time.Second)
		garbage := [][]byte{nil, {0xff}, []byte("hello, raft"), encodeVoteRequest(&raft.RequestVoteRequest{Term: 1})}
		for _, svc := range []string{svcAppend, svcHeartbeat, svcVote, svcPreVote, svcTimeout} {
			for _, g := range garbage {
				if svc == svcVote && len(g) > 2 && g[1] == kindVoteReq {
					continue
				}
				_, err := caller.Call(ctx, "raft"+svc, g, core.At(string(b.LocalAddr())))
				var re *core.RemoteError
				if !errors.As(err, &re) || re.Code != core.CodeBadRequest {
					t.Fatalf("%s given %q: err %v, want CodeBadRequest", svc, g, err)
				}
			}
		}
		_, err := caller.Upload(ctx, "raft"+svcSnapshot, []byte("not a header"), strings.NewReader("data"), core.At(string(b.LocalAddr())))
		var re *core.RemoteError
		if !errors.As(err, &re) || re.Code != core.CodeBadRequest {
			t.Fatalf("snapshot with a garbage header: err %v, want CodeBadRequest", err)
		}
		if got := b.Stats().BadRequests; got != uint64(5*(len(garbage))-1+1) {
			t.Fatalf("%d bad requests counted", got)
		}
		var vr raft.RequestVoteResponse
		if err := a.RequestVote("b", b.LocalAddr(), &raft.RequestVoteRequest{RPCHeader: trHeader(3), Term: 2}, &vr); err != nil || !vr.Granted {
			t.Fatalf("after garbage: %v, %+v", err, vr)
		}
		r.next(t)
	})
}

// A call to a member that does not answer ends by its deadline with an
// error naming the RPC; Close ends the calls in flight, is idempotent,
// withdraws the services, and later calls fail with ErrTransportShutdown.
func TestTransportDeadlineAndClose(t *testing.T) {
	e := trNewEnv(t, core.TCP)
	a := e.transport(e.peer("a"), WithRPCTimeout(300*time.Millisecond))
	bp := e.peer("b")
	b := e.transport(bp) // nobody reads its consumer channel
	var resp raft.RequestVoteResponse
	start := time.Now()
	err := a.RequestVote("b", b.LocalAddr(), &raft.RequestVoteRequest{RPCHeader: trHeader(3), Term: 2}, &resp)
	if err == nil || !strings.Contains(err.Error(), "RequestVote to ") {
		t.Fatalf("err %v", err)
	}
	if !errors.Is(err, core.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
		var re *core.RemoteError
		if !errors.As(err, &re) || re.Code != core.CodeDeadlineExceeded {
			t.Fatalf("err %v, want a deadline", err)
		}
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Fatalf("took %v", took)
	}
	if a.Stats().Vote.Failed != 1 {
		t.Fatalf("stats %+v", a.Stats())
	}

	// A handler waiting for raft returns when b closes.
	errc := make(chan error, 1)
	slow := e.transport(e.peer("c"), WithRPCTimeout(time.Minute))
	go func() {
		errc <- slow.RequestVote("b", b.LocalAddr(), &raft.RequestVoteRequest{RPCHeader: trHeader(3), Term: 3}, &resp)
	}()
	trWaitFor(t, 30*time.Second, "the vote to wait in b", func() bool { return b.Stats().Vote.Received == 2 })
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err == nil {
		t.Fatal("call to a closing transport succeeded")
	}
	_, err = a.peer.Call(trCtx(t, 10*time.Second), "raft"+svcVote, nil, core.At(string(b.LocalAddr())))
	if !errors.Is(err, core.ErrUnknownService) {
		t.Fatalf("after close: %v, want ErrUnknownService", err)
	}
	if err := b.RequestVote("a", a.LocalAddr(), &raft.RequestVoteRequest{}, &resp); !errors.Is(err, raft.ErrTransportShutdown) {
		t.Fatalf("call from a closed transport: %v", err)
	}
	if _, ok := bp.Stats().Extra["consensus.transport"]; ok {
		t.Fatal("stats still reported after close")
	}
}

func TestTransportOptions(t *testing.T) {
	e := trNewEnv(t, core.TCP)
	p := e.peer("p")
	bad := map[string]TransportOption{
		"empty prefix":      WithTransportPrefix(""),
		"rpc timeout":       WithRPCTimeout(0),
		"heartbeat timeout": WithHeartbeatCallTimeout(-time.Second),
		"snapshot timeout":  WithSnapshotTimeout(time.Second, 0),
		"limits":            WithTransportLimits(core.ServiceLimits{}, core.ServiceLimits{Concurrency: 1}, core.ServiceLimits{Concurrency: 1}),
		"nil stream option": WithSnapshotStreamOptions(nil),
		"nil":               nil,
	}
	for name, o := range bad {
		if _, err := NewTransport(p, o); !errors.Is(err, ErrBadTransportOption) {
			t.Errorf("%s: err %v", name, err)
		}
	}
	if _, err := NewTransport(p, WithSnapshotStreamOptions(core.StreamChunk(0))); err == nil {
		t.Error("a bad stream option was accepted")
	}
	tr := e.transport(p, WithTransportPrefix("g2"))
	if _, ok := p.Stats().Extra["consensus.transport.g2"]; !ok {
		t.Fatalf("stats %v", p.Stats().Extra)
	}
	if l, ok := p.ServiceLimits("g2.heartbeat"); !ok || l.Concurrency != 4 {
		t.Fatalf("heartbeat limits %+v %v", l, ok)
	}
	off := e.transport(e.peer("nopipe"), WithPipelineDepth(0))
	if _, err := off.AppendEntriesPipeline("x", "y"); !errors.Is(err, raft.ErrPipelineReplicationNotSupported) {
		t.Fatal(err)
	}
	if _, err := NewTransport(p, WithPipelineDepth(65)); !errors.Is(err, ErrBadTransportOption) {
		t.Fatalf("depth 65: %v", err)
	}
	one := core.ServiceLimits{Concurrency: 4}
	if _, err := NewTransport(p, WithTransportLimits(one, one, one), WithPipelineDepth(8)); !errors.Is(err, ErrBadTransportOption) {
		t.Fatalf("depth 8 with 3 append handlers per caller: %v", err)
	}
	if got := tr.DecodePeer(tr.EncodePeer("x", tr.LocalAddr())); got != tr.LocalAddr() {
		t.Fatalf("peer round trip %q", got)
	}
}

// Heartbeats have a pool of their own: with every append handler stuck
// waiting for a raft that does not read its consumer channel (and more
// appends queued), heartbeats still get through the fast path.
func TestTransportHeartbeatsNotBehindAppends(t *testing.T) {
	trEachTransport(t, func(t *testing.T, e *trEnv) {
		a := e.transport(e.peer("a"), WithRPCTimeout(20*time.Second))
		b := e.transport(e.peer("b"))
		b.SetHeartbeatHandler(func(rpc raft.RPC) { rpc.Respond(&raft.AppendEntriesResponse{Term: 1, Success: true}, nil) })
		const stuck = 20 // beyond the append pool's 12 handlers
		errc := make(chan error, stuck)
		for i := 0; i < stuck; i++ {
			go func() {
				var resp raft.AppendEntriesResponse
				errc <- a.AppendEntries("b", b.LocalAddr(), &raft.AppendEntriesRequest{RPCHeader: trHeader(3), Term: 1,
					PrevLogEntry: 1, Entries: trEntries()}, &resp)
			}()
		}
		// One caller's connection gets 8 of the pool's 12 handlers.
		trWaitFor(t, 30*time.Second, "the append handlers to be busy", func() bool { return b.Stats().Append.Received >= 8 })
		for i := 0; i < 20; i++ {
			var resp raft.AppendEntriesResponse
			if err := a.AppendEntries("b", b.LocalAddr(), &raft.AppendEntriesRequest{RPCHeader: trHeader(3), Term: 1}, &resp); err != nil || !resp.Success {
				t.Fatalf("heartbeat %d behind stuck appends: %v", i, err)
			}
		}
		if got := b.Stats().HeartbeatFast; got != 20 {
			t.Fatalf("%d heartbeats on the fast path", got)
		}
		closed := time.Now()
		b.Close() // frees the stuck appends
		for i := 0; i < stuck; i++ {
			if err := <-errc; err == nil {
				t.Error("an append nobody answered succeeded")
			}
		}
		t.Logf("stuck appends ended %v after Close", time.Since(closed))
	})
}

// trFailingReader returns n bytes and then an error.
type trFailingReader struct{ n int }

func (r *trFailingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errors.New("the leader's disk failed")
	}
	k := min(len(p), r.n)
	r.n -= k
	return k, nil
}

// A snapshot stream that breaks off mid-way ends the follower's read
// with an error (raft answers it, the handler returns), and the
// transport then takes a whole snapshot.
func TestTransportSnapshotBrokenOff(t *testing.T) {
	trEachTransport(t, func(t *testing.T, e *trEnv) {
		a, b, r := trPair(t, e)
		req := &raft.InstallSnapshotRequest{RPCHeader: trHeader(3), Term: 2, Size: 8 << 20}
		var resp raft.InstallSnapshotResponse
		err := a.InstallSnapshot("b", b.LocalAddr(), req, &resp, &trFailingReader{n: 3 << 20})
		if err == nil || !strings.Contains(err.Error(), "disk failed") {
			t.Fatalf("broken snapshot: %v", err)
		}
		// The follower admits one snapshot stream per caller: until the
		// broken one has ended there, the next is refused as overloaded.
		data := bytes.Repeat([]byte{7}, 3<<20)
		req.Size = int64(len(data))
		deadline := time.Now().Add(30 * time.Second)
		for {
			err := a.InstallSnapshot("b", b.LocalAddr(), req, &resp, bytes.NewReader(data))
			if err == nil && resp.Success {
				break
			}
			if !errors.Is(err, core.ErrOverloaded) || time.Now().After(deadline) {
				t.Fatalf("whole snapshot after a broken one: %v %+v", err, resp)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if got := <-r.snap; !bytes.Equal(got, data) {
			t.Fatalf("snapshot of %d bytes arrived as %d", len(data), len(got))
		}
	})
}
