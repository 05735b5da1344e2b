package cache

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
)

// Environment of a helper process: the test binary re-executed.
const (
	helperEnv      = "ZMP_CACHE_TEST_HELPER"
	helperRegistry = "ZMP_CACHE_TEST_REGISTRY"
	helperService  = "ZMP_CACHE_TEST_SERVICE" // the invalidator drops ServiceKey(service, body)
	helperBody     = "ZMP_CACHE_TEST_BODY"
)

// runInvalidator publishes an invalidation of one key every 20 ms
// until SIGTERM (or a minute, so that it never outlives a lost parent).
func runInvalidator() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	reg, err := core.NewDirRegistry(os.Getenv(helperRegistry))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	p, err := core.NewPeer(ctx, "invalidator", core.WithRegistry(reg))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	defer p.Close()
	inv := Invalidation{Keys: []string{ServiceKey(os.Getenv(helperService), []byte(os.Getenv(helperBody)))}}
	for ctx.Err() == nil {
		if err := PublishInvalidation(p, DefaultInvalidationTopic, inv); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestInvalidationAcrossProcesses: another OS process publishes an
// invalidation; the memo in this one drops the reply.
func TestInvalidationAcrossProcesses(t *testing.T) {
	e := newMenv(t, core.TCP)
	m := newMemo(t, MemoTTL(time.Hour))
	svc, cli := memoPair(t, e, m, false)
	if err := m.Attach(cli); err != nil {
		t.Fatal(err)
	}
	ctx := e.ctx(30 * time.Second)
	call(t, ctx, cli, "a")
	key := ServiceKey("svc", []byte("a"))
	if _, ok := m.cache.Peek(key); !ok {
		t.Fatal("reply not cached")
	}

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=invalidator", helperRegistry+"="+e.dir, helperService+"=svc", helperBody+"=a")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	memoWait(t, 20*time.Second, "the other process's invalidation applied", func() bool {
		_, ok := m.cache.Peek(key)
		return !ok
	})
	if got := call(t, ctx, cli, "a"); got != "2:a" || svc.runs.Load() != 2 {
		t.Fatalf("after the invalidation: %q", got)
	}
	// Killing the publisher mid-stream leaves the memo serving.
	cmd.Process.Kill()
	cmd.Wait()
	call(t, ctx, cli, "b")
	call(t, ctx, cli, "b")
}
