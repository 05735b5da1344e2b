package core

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// Tests of streams (stream*.go): bodies larger than one message.

// patternReader yields n pseudo-random bytes of a seed: the same for
// every reader of that seed, without holding them.
func patternReader(seed uint64, n int64) io.Reader {
	return io.LimitReader(rand.NewChaCha8(seedBytes(seed)), n)
}

func seedBytes(seed uint64) [32]byte {
	var s [32]byte
	binary.BigEndian.PutUint64(s[:], seed)
	return s
}

// patternSum is the SHA-256 of patternReader(seed, n).
func patternSum(t testing.TB, seed uint64, n int64) [32]byte {
	t.Helper()
	h := sha256.New()
	if _, err := io.Copy(h, patternReader(seed, n)); err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

// sumHandler is an upload handler that answers with the header, a
// colon, the body's length and its SHA-256.
func sumHandler(ctx context.Context, r *StreamRequest) ([]byte, error) {
	h := sha256.New()
	n, err := io.Copy(h, r.Body)
	if err != nil {
		return nil, err
	}
	return fmt.Appendf(nil, "%s:%d:%x", r.Header, n, h.Sum(nil)), nil
}

// patternHandler is a download handler: the request is "seed size",
// and the reply stream that many bytes of the seed's pattern.
func patternHandler(ctx context.Context, r *StreamRequest) ([]byte, error) {
	var seed uint64
	var n int64
	if _, err := fmt.Sscan(string(r.Header), &seed, &n); err != nil {
		return nil, NewError(CodeBadRequest, "request %q: %v", r.Header, err)
	}
	_, err := io.Copy(r.Reply, patternReader(seed, n))
	return nil, err
}

// streamPair is a provider of "up" (sumHandler) and "down"
// (patternHandler) and a caller, in e.
type streamPair struct {
	srv, cli *Peer
	up, down *streamService
}

func newStreamPair(t *testing.T, e *tenv, opts ...StreamOption) *streamPair {
	t.Helper()
	sp := &streamPair{srv: e.peer("streamer"), cli: e.peer("caller")}
	var err error
	if sp.up, err = sp.srv.handleStream("up", StreamHandlerFunc(sumHandler), opts); err != nil {
		t.Fatal(err)
	}
	if sp.down, err = sp.srv.handleStream("down", StreamHandlerFunc(patternHandler), opts); err != nil {
		t.Fatal(err)
	}
	return sp
}

// checkUpload uploads n bytes of seed's pattern and checks the reply.
func (sp *streamPair) checkUpload(t testing.TB, ctx context.Context, seed uint64, n int64) {
	t.Helper()
	reply, err := sp.cli.Upload(ctx, "up", []byte("hdr"), patternReader(seed, n))
	if err != nil {
		t.Fatalf("Upload of %d bytes: %v", n, err)
	}
	if want := formatSum("hdr", n, patternSum(t, seed, n)); string(reply) != want {
		t.Fatalf("Upload of %d bytes: reply %q, want %q", n, reply, want)
	}
}

// formatSum is what sumHandler answers.
func formatSum(header string, n int64, sum [32]byte) string {
	return fmt.Sprintf("%s:%d:%x", header, n, sum)
}

// checkDownload downloads n bytes of seed's pattern and checks them.
func (sp *streamPair) checkDownload(t testing.TB, ctx context.Context, seed uint64, n int64) {
	t.Helper()
	sp.checkDownloadSum(t, ctx, seed, n, patternSum(t, seed, n))
}

// checkDownloadSum downloads n bytes of seed's pattern and checks them
// against their known sum.
func (sp *streamPair) checkDownloadSum(t testing.TB, ctx context.Context, seed uint64, n int64, sum [32]byte) {
	t.Helper()
	rc, err := sp.cli.Download(ctx, "down", fmt.Appendf(nil, "%d %d", seed, n))
	if err != nil {
		t.Fatalf("Download of %d bytes: %v", n, err)
	}
	defer rc.Close()
	h := sha256.New()
	got, err := io.Copy(h, rc)
	if err != nil {
		t.Fatalf("Download of %d bytes: after %d: %v", n, got, err)
	}
	if got != n || [32]byte(h.Sum(nil)) != sum {
		t.Fatalf("Download of %d bytes: got %d bytes, checksum %s", n, got, "mismatch")
	}
}

func TestStreamSizes(t *testing.T) {
	configs := []struct {
		name  string
		chunk int
		opts  []StreamOption
	}{
		{"default", DefaultStreamChunk, nil},
		{"chunk1000-window3", 1000, []StreamOption{StreamChunk(1000), StreamWindow(3)}},
		{"chunk1-window1", 1, []StreamOption{StreamChunk(1), StreamWindow(1)}},
	}
	eachTransport(t, func(t *testing.T, e *tenv) {
		for _, c := range configs {
			t.Run(c.name, func(t *testing.T) {
				e := newTenv(t, e.tr)
				sp := newStreamPair(t, e, c.opts...)
				ctx := e.ctx(60 * time.Second)
				ch := int64(c.chunk)
				sizes := []int64{0, 1, ch - 1, ch, ch + 1, 2*ch + 1}
				switch c.chunk { // many chunks and a short last one
				case DefaultStreamChunk:
					sizes = append(sizes, 7<<20+3)
				case 1000:
					sizes = append(sizes, 300*1000+3)
				default:
					sizes = append(sizes, 300)
				}
				for i, n := range sizes {
					if n < 0 {
						continue
					}
					sp.checkUpload(t, ctx, uint64(i), n)
					sp.checkDownload(t, ctx, uint64(i), n)
				}
				waitCond(t, 5*time.Second, "streams to be freed", func() bool {
					return sp.up.openStreams() == 0 && sp.down.openStreams() == 0
				})
			})
		}
	})
}

// Several streams at once, both ways, each pinned to its provider
// while another provider of the same services is there to be picked.
func TestStreamConcurrentPinned(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		sp := newStreamPair(t, e, StreamChunk(64<<10))
		other := e.peer("streamer2")
		for _, s := range []string{"up", "down"} {
			h := StreamHandlerFunc(sumHandler)
			if s == "down" {
				h = patternHandler
			}
			if err := other.HandleStream(s, h, StreamChunk(64<<10)); err != nil {
				t.Fatal(err)
			}
		}
		ctx := e.ctx(60 * time.Second)
		errs := make(chan error, 8)
		for i := range 4 {
			go func() {
				errs <- tryT(func(tb testing.TB) { sp.checkUpload(tb, ctx, uint64(i), 3<<20+int64(i)) })
			}()
			go func() {
				errs <- tryT(func(tb testing.TB) { sp.checkDownload(tb, ctx, uint64(i), 3<<20+int64(i)) })
			}()
		}
		for range 8 {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
	})
}

// Streams share one caller's connection: 4 uploads and 4 downloads at
// once put more calls in flight than the provider lets one connection
// queue (here 2 running and 2 waiting); calls refused for it are made
// again, and every stream completes. (The streams are opened one by
// one first: an open refused as overloaded is the caller's to retry,
// as a call is.)
func TestStreamSharedConnection(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		srv, cli := e.peer("streamer", WithConnectionShare(2, 2)), e.peer("caller")
		if err := srv.HandleStream("up", StreamHandlerFunc(sumHandler)); err != nil {
			t.Fatal(err)
		}
		if err := srv.HandleStream("down", StreamHandlerFunc(patternHandler)); err != nil {
			t.Fatal(err)
		}
		ctx := e.ctx(2 * time.Minute)
		const size = 16 << 20
		errs := make(chan error, 8)
		var ups, downs []*streamCall
		for i := range 4 {
			up, err := cli.openStream(ctx, "up", opOpenUpload, []byte("hdr"), nil)
			if err != nil {
				t.Fatal(err)
			}
			down, err := cli.openStream(ctx, "down", opOpenDownload, fmt.Appendf(nil, "%d %d", i, size), nil)
			if err != nil {
				t.Fatal(err)
			}
			ups, downs = append(ups, up), append(downs, down)
		}
		for i, up := range ups {
			down := downs[i]
			go func() {
				reply, err := up.upload(ctx, patternReader(uint64(i), size))
				if want := formatSum("hdr", size, patternSum(t, uint64(i), size)); err == nil && string(reply) != want {
					err = fmt.Errorf("reply %q, want %q", reply, want)
				}
				errs <- err
			}()
			go func() {
				h := sha256.New()
				n, err := io.Copy(h, &downloadReader{s: down, ctx: ctx})
				if err == nil && (n != size || [32]byte(h.Sum(nil)) != patternSum(t, uint64(i), size)) {
					err = fmt.Errorf("download: %d bytes, or a wrong checksum", n)
				}
				errs <- err
			}()
		}
		for range 8 {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
	})
}

// tryT runs f with a testing.TB whose Fatal ends f and is returned as
// an error, so that goroutines other than the test's can check.
func tryT(f func(tb testing.TB)) (err error) {
	tb := &errTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(tb)
	}()
	<-done
	return tb.err
}

type errTB struct {
	testing.TB
	err error
}

func (e *errTB) Helper() {}
func (e *errTB) Fatalf(format string, args ...any) {
	e.err = fmt.Errorf(format, args...)
	runtime.Goexit()
}
func (e *errTB) Fatal(args ...any) {
	e.err = errors.New(fmt.Sprint(args...))
	runtime.Goexit()
}

// Errors of the handler reach the caller as *RemoteError, before,
// during and after the body.
func TestStreamHandlerErrors(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		srv, cli := e.peer("streamer"), e.peer("caller")
		fail := func(ctx context.Context, r *StreamRequest) ([]byte, error) {
			after, _ := strconv.Atoi(string(r.Header))
			{
				io.CopyN(io.Discard, r.Body, int64(after))
			}
			if after > 0 {
				io.CopyN(r.Reply, patternReader(1, int64(after)), int64(after))
			}
			if after == 7 {
				panic("seven")
			}
			return nil, NewError(1042, "failed after %d", after)
		}
		for _, s := range []string{"up", "down"} {
			if err := srv.HandleStream(s, StreamHandlerFunc(fail), StreamChunk(1000)); err != nil {
				t.Fatal(err)
			}
		}
		ctx := e.ctx(30 * time.Second)
		for _, after := range []int{0, 2500, 7} {
			_, err := cli.Upload(ctx, "up", []byte(strconv.Itoa(after)), patternReader(2, 1<<20))
			checkStreamErr(t, "upload", after, err)
			rc, err := cli.Download(ctx, "down", []byte(strconv.Itoa(after)))
			if err != nil {
				t.Fatal(err)
			}
			_, err = io.Copy(io.Discard, rc)
			rc.Close()
			checkStreamErr(t, "download", after, err)
		}
	})
}

func checkStreamErr(t *testing.T, what string, after int, err error) {
	t.Helper()
	var re *RemoteError
	switch {
	case !errors.As(err, &re):
		t.Errorf("%s failing after %d: error %v, want a *RemoteError", what, after, err)
	case after == 7 && re.Code != CodePanic:
		t.Errorf("%s panicking: code %v, want CodePanic", what, re.Code)
	case after != 7 && (re.Code != 1042 || re.Message != fmt.Sprintf("failed after %d", after)):
		t.Errorf("%s failing after %d: %v", what, after, re)
	}
}

// An upload's handler may answer before it has read the whole body;
// the caller stops sending then.
func TestStreamUploadEarlyReply(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		srv, cli := e.peer("streamer"), e.peer("caller")
		err := srv.HandleStream("head", StreamHandlerFunc(func(ctx context.Context, r *StreamRequest) ([]byte, error) {
			b := make([]byte, 10)
			_, err := io.ReadFull(r.Body, b)
			return b, err
		}), StreamChunk(4096))
		if err != nil {
			t.Fatal(err)
		}
		body := &countingReader{r: patternReader(3, 1<<30)}
		reply, err := cli.Upload(e.ctx(30*time.Second), "head", nil, body)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]byte, 10)
		io.ReadFull(patternReader(3, 10), want)
		if !bytes.Equal(reply, want) {
			t.Fatalf("reply %x, want %x", reply, want)
		}
		if body.n > 1<<20 {
			t.Fatalf("the caller read %d bytes of its body after the reply", body.n)
		}
	})
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestStreamOptions(t *testing.T) {
	bad := map[string][]StreamOption{
		"chunk 0":          {StreamChunk(0)},
		"chunk too large":  {StreamChunk(maxStreamChunk + 1)},
		"window 0":         {StreamWindow(0)},
		"window too large": {StreamWindow(maxStreamWindow + 1)},
		"batch too large":  {StreamChunk(4 << 20), StreamWindow(3)},
		"limits":           {StreamLimits(2, 3)},
		"idle":             {StreamIdleTimeout(time.Millisecond)},
		"nil":              {nil},
	}
	for name, opts := range bad {
		if _, err := buildStreamConfig(opts); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	c, err := buildStreamConfig([]StreamOption{StreamChunk(100), StreamWindow(8), StreamLimits(3, 2), StreamIdleTimeout(time.Second)})
	if err != nil || c.chunk != 100 || c.window != 8 || c.max != 3 || c.maxPerConn != 2 || c.idle != time.Second {
		t.Fatalf("config %+v, %v", c, err)
	}
	if c := defaultStreamConfig(); c.chunk != 1<<20 || c.window != 4 || c.max != 16 || c.maxPerConn != 4 || c.idle != 30*time.Second {
		t.Fatalf("defaults %+v", c)
	}
}
