package core

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Streams against callers that misbehave: that break the chunking
// protocol, vanish, flood the provider with opens or stall it. The
// provider lives, serves others and frees what the streams held.

// rawStream makes one call of the chunking protocol by hand.
func rawStream(ctx context.Context, p *Peer, service string, op streamOp, id streamID, seq uint64, arg uint32, payload []byte) (streamMsg, []byte, error) {
	reply, err := p.Call(ctx, service, encodeStream(streamMsg{code: uint8(op), id: id, seq: seq, arg: arg}, payload), OnNode("streamer"))
	if err != nil {
		return streamMsg{}, nil, err
	}
	return decodeStreamReply(reply)
}

// rawOpen opens a stream by hand and returns its id.
func rawOpen(t *testing.T, ctx context.Context, p *Peer, service string, op streamOp, header string) streamID {
	t.Helper()
	m, _, err := rawStream(ctx, p, service, op, streamID{}, 0, 0, []byte(header))
	if err != nil {
		t.Fatalf("open of %q: %v", service, err)
	}
	return m.id
}

// ctxWatcher is a handler wrapper that counts the handlers running and
// the ones whose context ended before they returned.
type ctxWatcher struct {
	running, cancelled atomic.Int64
}

func (w *ctxWatcher) wrap(h StreamHandlerFunc) StreamHandlerFunc {
	return func(ctx context.Context, r *StreamRequest) ([]byte, error) {
		w.running.Add(1)
		defer w.running.Add(-1)
		b, err := h(ctx, r)
		if ctx.Err() != nil {
			w.cancelled.Add(1)
		}
		return b, err
	}
}

func TestStreamProtocolViolations(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		sp := newStreamPair(t, e, StreamChunk(100), StreamWindow(2))
		other := e.peer("intruder")
		ctx := e.ctx(30 * time.Second)
		chunk := make([]byte, 100)
		bad := func(what string, err error) {
			t.Helper()
			var re *RemoteError
			if !errors.As(err, &re) || re.Code != CodeBadRequest {
				t.Errorf("%s: error %v, want CodeBadRequest", what, err)
			}
		}
		_, err := sp.cli.Call(ctx, "up", []byte("short"))
		bad("a short body", err)
		_, _, err = rawStream(ctx, sp.cli, "up", 99, streamID{1}, 0, 0, nil)
		bad("an unknown op", err)
		_, _, err = rawStream(ctx, sp.cli, "up", opData, streamID{1}, 0, 0, chunk)
		bad("data to an unknown stream", err)

		cases := []struct {
			name  string
			calls func(id streamID) error // the last call breaks the protocol
		}{
			{"beyond the window", func(id streamID) error { return dataCalls(ctx, sp, id, chunk, 2) }},
			{"duplicate", func(id streamID) error { return dataCalls(ctx, sp, id, chunk, 0, 0) }},
			{"too large", func(id streamID) error { return dataCalls(ctx, sp, id, make([]byte, 101), 0) }},
			{"close below what was sent", func(id streamID) error {
				if err := dataCalls(ctx, sp, id, chunk, 1, 0); err != nil {
					return fmt.Errorf("in order: %w", err)
				}
				_, _, err := rawStream(ctx, sp.cli, "up", opClose, id, 1, 0, nil)
				return err
			}},
			{"data after close", func(id streamID) error {
				m, _, err := rawStream(ctx, sp.cli, "up", opClose, id, 2, 0, nil) // chunks 0 and 1 never come
				if err != nil || streamStatus(m.code) != statusPending {
					return fmt.Errorf("close: status %d, %w", m.code, err)
				}
				return dataCalls(ctx, sp, id, chunk, 2)
			}},
			{"read on an upload", func(id streamID) error {
				_, _, err := rawStream(ctx, sp.cli, "up", opRead, id, 0, 0, nil)
				return err
			}},
		}
		for _, c := range cases {
			id := rawOpen(t, ctx, sp.cli, "up", opOpenUpload, "x")
			bad(c.name, c.calls(id))
			_, _, err := rawStream(ctx, sp.cli, "up", opData, id, 0, 0, chunk)
			bad(c.name+": the stream was dropped", err)
		}

		// Chunks out of order within the window reach the handler in order.
		id := rawOpen(t, ctx, sp.cli, "up", opOpenUpload, "ooo")
		data := []byte("0123456789")
		for _, seq := range []uint64{1, 0} {
			if _, _, err := rawStream(ctx, sp.cli, "up", opData, id, seq, 0, data[seq*5:seq*5+5]); err != nil {
				t.Fatalf("chunk %d: %v", seq, err)
			}
		}
		m, reply, err := rawStream(ctx, sp.cli, "up", opClose, id, 2, 0, nil)
		if want := formatSum("ooo", 10, sha256Of(data)); err != nil || streamStatus(m.code) != statusDone || string(reply) != want {
			t.Fatalf("close: status %d, reply %q, %v; want %q", m.code, reply, err, want)
		}

		// Another connection cannot speak for a stream; a download
		// takes no data.
		id = rawOpen(t, ctx, sp.cli, "down", opOpenDownload, "1 1000")
		_, _, err = rawStream(ctx, other, "down", opRead, id, 0, 0, nil)
		bad("a read from another connection", err)
		_, _, err = rawStream(ctx, sp.cli, "down", opData, id, 0, 0, chunk)
		bad("data on a download", err)

		waitCond(t, 10*time.Second, "every stream to be freed", func() bool {
			return sp.up.openStreams() == 0 && sp.down.openStreams() == 0
		})
		sp.checkUpload(t, ctx, 5, 12345)
		sp.checkDownload(t, ctx, 5, 12345)
	})
}

func sha256Of(b []byte) [32]byte { return sha256.Sum256(b) }

// dataCalls sends chunk as the chunks numbered seqs, in turn.
func dataCalls(ctx context.Context, sp *streamPair, id streamID, chunk []byte, seqs ...uint64) error {
	for _, seq := range seqs {
		if _, _, err := rawStream(ctx, sp.cli, "up", opData, id, seq, 0, chunk); err != nil {
			return err
		}
	}
	return nil
}

// A caller that opens streams and vanishes, or stops reading, has them
// reaped after the idle timeout: their handlers see their contexts end
// and their memory is freed. One that cancels mid-stream has its
// stream dropped at once.
func TestStreamVanishingCaller(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		srv := e.peer("streamer")
		var w ctxWatcher
		const idle = time.Second
		up, err := srv.handleStream("up", w.wrap(sumHandler), []StreamOption{StreamIdleTimeout(idle), StreamChunk(1000)})
		if err != nil {
			t.Fatal(err)
		}
		down, err := srv.handleStream("down", w.wrap(patternHandler), []StreamOption{StreamIdleTimeout(idle), StreamChunk(1000)})
		if err != nil {
			t.Fatal(err)
		}
		ctx := e.ctx(30 * time.Second)
		ghost := e.peer("ghost")
		t0 := time.Now()
		id := rawOpen(t, ctx, ghost, "up", opOpenUpload, "g")
		if _, _, err := rawStream(ctx, ghost, "up", opData, id, 0, 0, make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
		rawOpen(t, ctx, ghost, "down", opOpenDownload, "1 100000000")
		rc, err := ghost.Download(ctx, "down", []byte("2 100000000"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(rc, make([]byte, 5000)); err != nil { // then never reads again
			t.Fatal(err)
		}
		t.Logf("after the opens: %v", time.Since(t0))
		if !pollFor(5*time.Second, func() bool { return w.running.Load() == 3 }) {
			t.Fatalf("%d handlers running, want 3; %d cancelled; %d and %d streams open", w.running.Load(), w.cancelled.Load(), up.openStreams(), down.openStreams())
		}
		start := time.Now()
		ghost.Close() // vanishes without a word
		waitCond(t, 20*idle, "the streams to be reaped", func() bool {
			return w.running.Load() == 0 && up.openStreams() == 0 && down.openStreams() == 0
		})
		t.Logf("reaped %v after the caller vanished (idle timeout %v)", time.Since(start).Round(time.Millisecond), idle)
		if c := w.cancelled.Load(); c != 3 {
			t.Errorf("%d handlers saw their context end, want 3", c)
		}
		rc.Close()

		// A caller that cancels mid-upload: its body's reader cancels.
		cli := e.peer("caller")
		cctx, cancel := context.WithCancel(ctx)
		body := &cancelAfter{r: patternReader(1, 1<<30), n: 50_000, cancel: cancel}
		if _, err := cli.Upload(cctx, "up", nil, body); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled upload: %v, want context.Canceled", err)
		}
		waitCond(t, idle/2, "the cancelled stream to be dropped (before the idle timeout)", func() bool {
			return w.running.Load() == 0 && up.openStreams() == 0
		})
		if c := w.cancelled.Load(); c != 4 {
			t.Errorf("%d handlers saw their context end, want 4", c)
		}
	})
}

// A caller whose connection closes has its streams ended at once, long
// before the idle timeout (30 s by default): the node learns of the
// close from its connection.
func TestStreamCallerDisconnect(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		srv := e.peer("streamer")
		var w ctxWatcher
		up, err := srv.handleStream("up", w.wrap(sumHandler), []StreamOption{StreamChunk(1000)})
		if err != nil {
			t.Fatal(err)
		}
		ctx := e.ctx(30 * time.Second)
		ghost := e.peer("ghost")
		id := rawOpen(t, ctx, ghost, "up", opOpenUpload, "g")
		if _, _, err := rawStream(ctx, ghost, "up", opData, id, 0, 0, make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
		rawOpen(t, ctx, ghost, "up", opOpenUpload, "h")
		waitCond(t, 5*time.Second, "two handlers running", func() bool { return w.running.Load() == 2 })
		if n := srv.Stats().Services["up"].Streams; n != 2 {
			t.Fatalf("Stats: %d streams open, want 2", n)
		}
		start := time.Now()
		ghost.Close()
		waitCond(t, 10*time.Second, "the streams to end with the connection", func() bool {
			return w.running.Load() == 0 && up.openStreams() == 0
		})
		t.Logf("streams ended %v after the caller closed", time.Since(start).Round(time.Millisecond))
		if c := w.cancelled.Load(); c != 2 {
			t.Errorf("%d handlers saw their context end, want 2", c)
		}
		srv.streamMu.Lock()
		n := len(srv.streamSvcs)
		srv.streamMu.Unlock()
		if n != 0 {
			t.Errorf("%d stream services still tracked with no stream open", n)
		}
		if n := srv.Stats().Services["up"].Streams; n != 0 {
			t.Errorf("Stats: %d streams open after the caller left, want 0", n)
		}
	})
}

// cancelAfter reads r and cancels after n bytes.
type cancelAfter struct {
	r      io.Reader
	n      int64
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.n <= 0 {
		c.cancel()
	}
	n, err := c.r.Read(p)
	c.n -= int64(n)
	return n, err
}

// A flood of opens is refused beyond the limits with CodeOverloaded;
// other callers are served meanwhile, and open streams once the
// flooders' streams are gone.
func TestStreamFloodOfOpens(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		srv := e.peer("streamer")
		provideAdd(t, srv)
		const idle = 5 * time.Second // longer than the flood takes
		up, err := srv.handleStream("up", StreamHandlerFunc(sumHandler), []StreamOption{StreamLimits(4, 2), StreamIdleTimeout(idle)})
		if err != nil {
			t.Fatal(err)
		}
		ctx := e.ctx(30 * time.Second)
		var opened, refused atomic.Int64
		flooders := []*Peer{e.peer("flood1"), e.peer("flood2"), e.peer("flood3")}
		var wg sync.WaitGroup
		for _, f := range flooders {
			for range 50 {
				wg.Go(func() {
					_, _, err := rawStream(ctx, f, "up", opOpenUpload, streamID{}, 0, 0, nil)
					switch {
					case err == nil:
						opened.Add(1)
					case errors.Is(err, ErrOverloaded):
						refused.Add(1)
					default:
						t.Errorf("open: %v", err)
					}
				})
			}
		}
		wg.Wait()
		if opened.Load() != 4 || refused.Load() != 146 || up.openStreams() != 4 {
			t.Fatalf("%d opened, %d refused, %d open; want 4, 146, 4", opened.Load(), refused.Load(), up.openStreams())
		}
		cli := e.peer("caller")
		callAdd(t, ctx, cli, 40, 2)
		if _, err := cli.Upload(ctx, "up", nil, patternReader(1, 10)); !errors.Is(err, ErrOverloaded) {
			t.Fatalf("upload while full: %v, want ErrOverloaded", err)
		}
		for _, f := range flooders {
			f.Close()
		}
		waitCond(t, 4*idle, "the flooders' streams to be reaped", func() bool { return up.openStreams() == 0 })
		sp := &streamPair{srv: srv, cli: cli}
		sp.checkUpload(t, ctx, 3, 3000)
	})
}

// Stalled streams (handlers that never read or write) hold at most one
// worker each, for at most a second at a time: other callers are
// served meanwhile, and the streams end at their callers' deadline.
func TestStreamStalledHandlers(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		srv := e.peer("streamer")
		provideAdd(t, srv)
		stall := StreamHandlerFunc(func(ctx context.Context, r *StreamRequest) ([]byte, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		})
		for _, s := range []string{"up", "down"} {
			if err := srv.HandleStream(s, stall, StreamChunk(1000), StreamWindow(2)); err != nil {
				t.Fatal(err)
			}
		}
		ctx := e.ctx(30 * time.Second)
		var wg sync.WaitGroup
		for i := range 4 {
			cli := e.peer(fmt.Sprintf("staller%d", i))
			for j := range 4 {
				wg.Go(func() {
					sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
					defer cancel()
					var err error
					if j%2 == 0 {
						_, err = cli.Upload(sctx, "up", nil, patternReader(1, 1<<20))
					} else {
						var rc io.ReadCloser
						if rc, err = cli.Download(sctx, "down", nil); err == nil {
							_, err = io.Copy(io.Discard, rc)
							rc.Close()
						}
					}
					if !errors.Is(err, context.DeadlineExceeded) {
						t.Errorf("stalled stream: %v, want a deadline error", err)
					}
				})
			}
		}
		witness := e.peer("witness")
		worst := time.Duration(0)
		for range 100 {
			start := time.Now()
			callAdd(t, ctx, witness, 1, 2)
			worst = max(worst, time.Since(start))
			time.Sleep(20 * time.Millisecond)
		}
		wg.Wait()
		t.Logf("slowest of 100 calls beside 16 stalled streams: %v", worst)
		if worst > time.Second {
			t.Errorf("a call beside stalled streams took %v", worst)
		}
	})
}

// Close cancels the handlers of open streams and waits for them.
func TestStreamCloseWaitsForHandlers(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		srv, cli := e.peer("streamer"), e.peer("caller")
		started := make(chan struct{})
		var returned atomic.Bool
		err := srv.HandleStream("up", StreamHandlerFunc(func(ctx context.Context, r *StreamRequest) ([]byte, error) {
			close(started)
			<-ctx.Done()
			time.Sleep(50 * time.Millisecond) // cleaning up
			returned.Store(true)
			return nil, ctx.Err()
		}))
		if err != nil {
			t.Fatal(err)
		}
		uploaded := make(chan error, 1)
		go func() {
			_, err := cli.Upload(e.ctx(30*time.Second), "up", nil, patternReader(1, 1<<30))
			uploaded <- err
		}()
		<-started
		if err := srv.Close(); err != nil {
			t.Fatal(err)
		}
		if !returned.Load() {
			t.Fatal("Close returned before the stream's handler")
		}
		if err := <-uploaded; err == nil {
			t.Fatal("the upload to a closed provider succeeded")
		}
	})
}

// A call that reaches a stream just after the stream's deadline ended it
// (it was on the wire when the deadline passed) is answered with the
// deadline, as a call parked on the stream is, not "no open stream".
func TestStreamLateCallAfterDeadline(t *testing.T) {
	e := newTenv(t, TCP)
	srv := e.peer("streamer")
	stall := StreamHandlerFunc(func(ctx context.Context, r *StreamRequest) ([]byte, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	if err := srv.HandleStream("down", stall); err != nil {
		t.Fatal(err)
	}
	cli := e.peer("caller")
	sctx, cancel := context.WithTimeout(e.ctx(10*time.Second), 300*time.Millisecond)
	defer cancel()
	rc, err := cli.Download(sctx, "down", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	dr := rc.(*downloadReader)
	<-sctx.Done()
	waitCond(t, 5*time.Second, "the stream to end", func() bool { return srv.Stats().Services["down"].Streams == 0 })
	// The read the caller sent just before its deadline, arriving now.
	_, _, err = dr.s.call(e.ctx(5*time.Second), dr.s.msg(opRead, 0, 1000))
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrTimeout) {
		t.Fatalf("late read: %v, want the stream's deadline", err)
	}
	if strings.Contains(err.Error(), "no open stream") {
		t.Fatalf("late read: %v", err)
	}
}
