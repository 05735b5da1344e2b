package core_test

// Interop tests: Python clients written from docs/protocol.md alone (see
// testdata/interop) call services of, and subscribe to topics of, a zmp
// peer. They prove that the spec suffices for another implementation.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
)

const (
	interopPython = "/usr/bin/python3"
	pythonTimeout = 20 * time.Second
	interopNode   = "pyinterop"
)

// requirePython skips the test when python3-zmq is missing, or fails it
// if ZMP_REQUIRE_INTEROP=1.
func requirePython(t *testing.T) {
	t.Helper()
	out, err := exec.Command(interopPython, "-c", "import zmq").CombinedOutput()
	if err == nil {
		return
	}
	if os.Getenv("ZMP_REQUIRE_INTEROP") == "1" {
		t.Fatalf("python3-zmq is required (ZMP_REQUIRE_INTEROP=1): %v\n%s", err, out)
	}
	t.Skip("python3-zmq not installed (apt-get install python3-zmq); set ZMP_REQUIRE_INTEROP=1 to make this a failure")
}

// newInteropPeer starts the peer the Python clients talk to, listed in
// a fresh directory registry whose path it returns.
func newInteropPeer(t *testing.T, ctx context.Context, tr core.Transport, extra ...core.Option) (*core.Peer, string) {
	t.Helper()
	regDir := t.TempDir()
	reg, err := core.NewDirRegistry(regDir)
	if err != nil {
		t.Fatal(err)
	}
	opts := append([]core.Option{core.WithRegistry(reg), core.WithTransport(tr)}, extra...)
	if tr == core.IPC {
		// Unix socket paths must stay under 108 bytes: t.TempDir is too long.
		dir, err := os.MkdirTemp("", "zi")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		opts = append(opts, core.WithRuntimeDir(dir))
	}
	p, err := core.NewPeer(ctx, interopNode, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("closing peer: %v", err)
		}
	})
	return p, regDir
}

// runPython runs a script of testdata/interop with the registry
// directory and node name, and decodes the JSON it prints into v.
func runPython(t *testing.T, script, regDir string, v any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), pythonTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, interopPython, "testdata/interop/"+script, regDir, interopNode)
	cmd.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", script, err, stdout.Bytes(), stderr.Bytes())
	}
	t.Logf("%s: %s", script, stdout.Bytes())
	if err := json.Unmarshal(stdout.Bytes(), v); err != nil {
		t.Fatalf("%s: decoding its output: %v\n%s", script, err, stdout.Bytes())
	}
}

var interopTransports = []core.Transport{core.TCP, core.IPC}

// pyMessage is how rpc_client.py describes a REPLY or ERROR it received.
type pyMessage struct {
	Frames         int     `json:"frames"`
	DelimiterEmpty *bool   `json:"delimiter_empty"` // absent for REQ sockets
	Version        int     `json:"version"`
	Type           int     `json:"type"`
	Code           int     `json:"code"`
	ID             uint64  `json:"id"`
	Timeout        int     `json:"timeout"`
	Body           string  `json:"body"`
	Message        string  `json:"message"`
	Detail         *string `json:"detail"`
}

// check compares m with a REPLY (typ 2, body) or an ERROR (typ 3, code).
func (m pyMessage) check(t *testing.T, what string, dealer bool, id uint64, typ, code int) {
	t.Helper()
	frames := map[int]int{2: 2, 3: 3}[typ] // header + body, or header + message + detail
	if dealer {
		frames++
		if m.DelimiterEmpty == nil || !*m.DelimiterEmpty {
			t.Errorf("%s: first frame is not the empty delimiter", what)
		}
	}
	if m.Frames != frames || m.Version != 1 || m.Type != typ || m.Code != code || m.ID != id || m.Timeout != 0 {
		t.Errorf("%s: got %d frames, header version %d type %d code %d id %d timeout %d; want %d frames, version 1 type %d code %d id %d timeout 0",
			what, m.Frames, m.Version, m.Type, m.Code, m.ID, m.Timeout, frames, typ, code, id)
	}
	if typ == 3 && m.Detail == nil {
		t.Errorf("%s: ERROR without a detail frame", what)
	}
}

type rpcSummary struct {
	RPC        string   `json:"rpc"`
	Services   []string `json:"services"`
	Add        pyMessage
	Concurrent struct {
		Order  []uint64          `json:"order"`
		Bodies map[string]string `json:"bodies"`
	}
	Fail           pyMessage
	Unknown        pyMessage
	Ping           pyMessage
	AfterMalformed pyMessage `json:"after_malformed"`
	Timeout        pyMessage
	Cancel         pyMessage
	CancelQueued   map[string]pyMessage `json:"cancel_queued"`
	Req            pyMessage
}

func TestInteropRPC(t *testing.T) {
	requirePython(t)
	for _, tr := range interopTransports {
		t.Run(string(tr), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			// 4 handlers at a time: rpc_client.py relies on it to queue a request.
			// One connection (the script's) may use all 4 handlers.
			// Every answer is given reply metadata, which a client that
			// sends none must never see (the frame counts below).
			setMeta := func(ctx context.Context, r *core.Request, next core.Handler) ([]byte, error) {
				r.ReplyMeta = core.Metadata{"never": "sent"}
				return next.ServeRPC(ctx, r)
			}
			p, regDir := newInteropPeer(t, ctx, tr, core.WithConcurrency(4, 64), core.WithConnectionShare(4, 64), core.WithServerInterceptors(setMeta))

			interopMust(t, core.Provide(p, "add", func(ctx context.Context, r struct{ A, B int }) (int, error) {
				return r.A + r.B, nil
			}))
			interopMust(t, core.Provide(p, "sleep", func(ctx context.Context, r struct {
				MS  int
				Tag string
			}) (string, error) {
				select {
				case <-time.After(time.Duration(r.MS) * time.Millisecond):
					return r.Tag, nil
				case <-ctx.Done():
					return "", ctx.Err()
				}
			}))
			interopMust(t, core.Provide(p, "fail", func(ctx context.Context, _ struct{}) (int, error) {
				return 0, core.NewError(1234, "nope")
			}))
			var mu sync.Mutex
			var blockErrs []error // why each "block" call ended
			interopMust(t, p.HandleFunc("block", func(ctx context.Context, r *core.Request) ([]byte, error) {
				<-ctx.Done()
				mu.Lock()
				blockErrs = append(blockErrs, ctx.Err())
				mu.Unlock()
				return nil, ctx.Err()
			}))

			var s rpcSummary
			runPython(t, "rpc_client.py", regDir, &s)

			if s.RPC != p.Info().RPC {
				t.Errorf("python found rpc endpoint %q, want %q", s.RPC, p.Info().RPC)
			}
			if !slices.Contains(s.Services, "add") {
				t.Errorf("registry entry lists services %q, want add among them", s.Services)
			}

			// 1. add
			s.Add.check(t, "add", true, 7, 2, 0)
			if s.Add.Body != "42" {
				t.Errorf("add: body %q, want 42", s.Add.Body)
			}
			// 2. concurrent calls, replies matched by id
			for _, id := range []string{"101", "102", "103", "104"} {
				if got := s.Concurrent.Bodies[id]; got != "\"t"+id+"\"" {
					t.Errorf("concurrent: reply to id %s has body %q, want %q", id, got, "\"t"+id+"\"")
				}
			}
			if want := []uint64{104, 103, 102, 101}; !slices.Equal(s.Concurrent.Order, want) {
				t.Errorf("concurrent: replies came in order %v, want %v (shortest sleep first)", s.Concurrent.Order, want)
			}
			// 3. application error
			s.Fail.check(t, "fail", true, 8, 3, 1234)
			if s.Fail.Message != "nope" {
				t.Errorf("fail: message %q, want nope", s.Fail.Message)
			}
			// 4. unknown service
			s.Unknown.check(t, "unknown service", true, 9, 3, 2)
			// 5. introspection
			s.Ping.check(t, "zmp.ping", true, 10, 2, 0)
			var ping struct{ Name, ID, Time string }
			if err := json.Unmarshal([]byte(s.Ping.Body), &ping); err != nil || ping.Name != interopNode || ping.ID != p.ID() || ping.Time == "" {
				t.Errorf("zmp.ping: body %s (%v), want name %q id %q and a time", s.Ping.Body, err, interopNode, p.ID())
			}
			// 6. the connection survives a malformed message
			s.AfterMalformed.check(t, "call after a malformed message", true, 11, 2, 0)
			if s.AfterMalformed.Body != "3" {
				t.Errorf("call after a malformed message: body %q, want 3", s.AfterMalformed.Body)
			}
			// 7. the timeout field bounds the handler
			s.Timeout.check(t, "timeout", true, 12, 3, int(core.CodeDeadlineExceeded))
			// 8. CANCEL cancels the handler, whose error reply still comes
			s.Cancel.check(t, "cancel", true, 13, 3, int(core.CodeCanceled))
			// 9. CANCEL reaches a request still queued: it never runs,
			// and is answered "canceled"
			for id := uint64(201); id <= 205; id++ {
				m, code := s.CancelQueued[fmt.Sprint(id)], core.CodeDeadlineExceeded
				if id == 205 {
					code = core.CodeCanceled
				}
				m.check(t, fmt.Sprintf("cancel of a queued request, id %d", id), true, id, 3, int(code))
			}
			mu.Lock()
			var deadlines, cancels int
			for _, err := range blockErrs {
				switch {
				case errors.Is(err, context.DeadlineExceeded):
					deadlines++
				case errors.Is(err, context.Canceled):
					cancels++
				}
			}
			if deadlines != 5 || cancels != 1 || len(blockErrs) != 6 {
				t.Errorf("block handlers ended with %v, want 5 deadline exceeded and 1 canceled (the queued request cancelled never runs)", blockErrs)
			}
			mu.Unlock()
			// 10. REQ socket
			s.Req.check(t, "REQ socket", false, 99, 2, 0)
			if s.Req.Body != "42" {
				t.Errorf("REQ socket: body %q, want 42", s.Req.Body)
			}
		})
	}
}

type subPhase struct {
	Counts  map[string]int    `json:"counts"`
	LastSeq map[string]uint64 `json:"last_seq"`
	Gaps    map[string]int    `json:"gaps"`
	Errors  []string          `json:"errors"`
}

func TestInteropPubSub(t *testing.T) {
	requirePython(t)
	for _, tr := range interopTransports {
		t.Run(string(tr), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			p, regDir := newInteropPeer(t, ctx, tr)
			topics := []string{"temperature", "temperature.max", "other"}
			for _, topic := range topics {
				interopMust(t, p.Advertise(topic))
			}

			// Publish {"topic", "n"} on every topic every 10 ms until the
			// script is done: the sequence number of message n is n.
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				tick := time.NewTicker(10 * time.Millisecond)
				defer tick.Stop()
				for n := 1; ; n++ {
					for _, topic := range topics {
						if err := core.Publish(p, topic, map[string]any{"topic": topic, "n": n}); err != nil {
							t.Errorf("publish %s: %v", topic, err)
							return
						}
					}
					select {
					case <-stop:
						return
					case <-ctx.Done():
						return
					case <-tick.C:
					}
				}
			}()
			var s struct {
				Pub    string   `json:"pub"`
				Topics []string `json:"topics"`
				Exact  subPhase `json:"exact"`
				Prefix subPhase `json:"prefix"`
			}
			func() {
				defer wg.Wait()
				defer close(stop)
				runPython(t, "sub_client.py", regDir, &s)
			}()

			if s.Pub != p.Info().Pub {
				t.Errorf("python found pub endpoint %q, want %q", s.Pub, p.Info().Pub)
			}
			if !slices.Equal(s.Topics, []string{"other", "temperature", "temperature.max"}) {
				t.Errorf("registry entry lists topics %q", s.Topics)
			}
			checkPhase := func(name string, ph subPhase, want ...string) {
				t.Helper()
				for _, e := range ph.Errors {
					t.Errorf("%s subscription: %s", name, e)
				}
				for topic, n := range ph.Gaps {
					t.Errorf("%s subscription: %d gaps in the sequence numbers of %q", name, n, topic)
				}
				for topic, n := range ph.Counts {
					if !slices.Contains(want, topic) {
						t.Errorf("%s subscription: received %d messages of %q, want only %q", name, n, topic, want)
					}
				}
				for _, topic := range want {
					if ph.Counts[topic] < 20 {
						t.Errorf("%s subscription: received %d messages of %q, want at least 20", name, ph.Counts[topic], topic)
					}
				}
			}
			checkPhase("exact", s.Exact, "temperature")
			checkPhase("prefix", s.Prefix, "temperature", "temperature.max")
		})
	}
}

func interopMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// pyMetaAnswer is how meta_client.py describes an answer.
type pyMetaAnswer struct {
	Frames  int               `json:"frames"`
	Type    int               `json:"type"`
	Code    int               `json:"code"`
	ID      uint64            `json:"id"`
	Meta    map[string]string `json:"meta"`
	Body    string            `json:"body"`
	Message string            `json:"message"`
}

// TestInteropMetadata: a pyzmq client written from docs/protocol.md
// §2.6 sends requests with and without metadata.
func TestInteropMetadata(t *testing.T) {
	requirePython(t)
	for _, tr := range interopTransports {
		t.Run(string(tr), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			p, regDir := newInteropPeer(t, ctx, tr)
			interopMust(t, p.HandleFunc("meta", func(_ context.Context, r *core.Request) ([]byte, error) {
				r.ReplyMeta = core.Metadata{"seen": r.Meta.Get(core.MetaTraceID), "count": fmt.Sprint(len(r.Meta))}
				if string(r.Body) == "fail" {
					return nil, core.NewError(1000, "failed as asked")
				}
				return r.Body, nil
			}))
			var s map[string]pyMetaAnswer
			runPython(t, "meta_client.py", regDir, &s)
			check := func(name string, frames, typ, code int, meta map[string]string) {
				t.Helper()
				a := s[name]
				if a.Frames != frames || a.Type != typ || a.Code != code || !maps.Equal(a.Meta, meta) {
					t.Errorf("%s: %+v; want %d frames, type %d, code %d, metadata %v", name, a, frames, typ, code, meta)
				}
			}
			check("none", 3, 2, 0, nil)
			check("empty", 4, 2, 0, map[string]string{"seen": "", "count": "0"})
			check("with", 4, 2, 0, map[string]string{"seen": "py-1", "count": "2"})
			check("error", 5, 3, 1000, map[string]string{"seen": "py-2", "count": "1"})
			check("bad_key", 4, 3, int(core.CodeBadRequest), nil)
			check("too_large", 4, 3, int(core.CodeBadRequest), nil)
			check("after", 3, 2, 0, nil)
			if s["with"].Body != "with" || s["after"].Body != "after" {
				t.Errorf("bodies %q and %q", s["with"].Body, s["after"].Body)
			}
		})
	}
}
