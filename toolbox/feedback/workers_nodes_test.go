package feedback

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/toolbox/proxy"
)

const nodeKind = "queue-worker"

// nodeLauncher is the launcher of this test binary's worker nodes. A
// child re-executes the binary running only TestWorkersNodeChild,
// which turns it into the node.
func nodeLauncher(t testing.TB) *core.Launcher {
	t.Helper()
	l, err := core.NewLauncher(core.WithArgs("-test.run=^TestWorkersNodeChild$"))
	if err != nil {
		t.Fatal(err)
	}
	err = l.RegisterArgs(nodeKind, func(args []string) (core.Behavior, error) {
		if len(args) != 1 {
			return core.Behavior{}, core.ErrBadArgs
		}
		return WorkerBehavior(args[0], proxy.HandlerFunc(func(ctx context.Context, body [][]byte) ([][]byte, error) {
			select {
			case <-time.After(5 * time.Millisecond):
				return body, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		})), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestWorkersNodeChild is the body of a child-process worker node; in
// a normal run it has nothing to do.
func TestWorkersNodeChild(t *testing.T) {
	code, isChild := nodeLauncher(t).RunChild()
	if !isChild {
		t.Skip("runs only as a worker node's child process")
	}
	os.Exit(code)
}

// TestWorkersNodeSet scales worker nodes behind a real Queue, as child
// processes and in-process, serving requests throughout.
func TestWorkersNodeSet(t *testing.T) {
	for _, inProcess := range []bool{false, true} {
		name := map[bool]string{false: "child", true: "in-process"}[inProcess]
		t.Run(name, func(t *testing.T) {
			q, err := proxy.NewQueue("tcp://127.0.0.1:0", "tcp://127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			set, err := NewNodeSet(nodeLauncher(t), nodeKind, core.WithKindArgs(q.BackendEndpoint()),
				core.WithRegistryAddress(t.TempDir()), core.WithInProcess(inProcess))
			if err != nil {
				t.Fatal(err)
			}
			defer set.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if err := set.SetWorkers(ctx, 3); err != nil {
				t.Fatal(err)
			}
			if !waitFor(20*time.Second, func() bool { return q.Stats().Workers == 3 }) {
				t.Fatalf("%d workers registered with the queue, want 3", q.Stats().Workers)
			}
			load := startQueueLoad(t, q.FrontendEndpoint(), 4, time.Millisecond)
			defer load.stop()
			if !waitFor(20*time.Second, func() bool { return load.answered.Load() > 50 }) {
				t.Fatal("no replies")
			}
			if err := set.SetWorkers(ctx, 1); err != nil {
				t.Fatal(err)
			}
			if set.Workers() != 1 || !waitFor(20*time.Second, func() bool { return q.Stats().Workers == 1 }) {
				t.Fatalf("set %d, queue %d workers: want 1", set.Workers(), q.Stats().Workers)
			}
			seen := load.answered.Load()
			if !waitFor(20*time.Second, func() bool { return load.answered.Load() > seen+50 }) {
				t.Fatal("no replies from the remaining worker")
			}
			if err := load.stop(); err != nil {
				t.Fatalf("a request failed: %v", err)
			}
			st := q.Stats()
			t.Logf("%s: sent %d answered %d, queue retried %d failed %d", name, load.sent.Load(), load.answered.Load(), st.Retried, st.Failed)
			if load.sent.Load() != load.answered.Load() || st.Failed != 0 {
				t.Fatalf("requests lost: %+v", st)
			}
			if err := set.Close(); err != nil {
				t.Fatal(err)
			}
			if err := set.SetWorkers(ctx, 1); err != ErrWorkerSetClosed {
				t.Fatalf("after Close: %v", err)
			}
		})
	}
}
