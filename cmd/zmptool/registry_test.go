package main

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRegistryCommandServesNodes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		app := newApp(nil, out, io.Discard)
		done <- app.RunContext(ctx, []string{"zmptool", "registry", "--listen", "tcp://127.0.0.1:0"})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("registry command: %v", err)
		}
	}()
	endpoint := waitMatch(t, out, regexp.MustCompile(`serving on (tcp://\S+)`))
	reg, err := core.NewRemoteRegistry(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	callCtx, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	p, err := core.NewPeer(callCtx, "remote-node", core.WithRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	info, err := core.Lookup(callCtx, reg, "remote-node")
	if err != nil || info.RPC != p.Info().RPC {
		t.Fatalf("lookup through the registry node: %+v, %v", info, err)
	}
}

func waitMatch(t *testing.T, out *syncBuffer, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("output never matched %v: %q", re, out.String())
	return ""
}
