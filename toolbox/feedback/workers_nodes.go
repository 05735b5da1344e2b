package feedback

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/toolbox/proxy"
)

// NodeLauncher is what a NodeSet makes its nodes with: a
// *core.Launcher.
type NodeLauncher interface {
	NewNode(kind, name string, opts ...core.Option) (*core.Node, error)
}

// NodeSet is a Scaler of worker nodes made by a core.Launcher: child
// processes of this binary (or goroutines of this process with
// core.WithInProcess) of a kind whose Behavior runs a proxy worker,
// such as WorkerBehavior's. SetWorkers starts nodes (waiting until each
// is ready) and stops the most recently started first, gracefully:
// its Teardown runs. Its methods are safe for concurrent use.
type NodeSet struct {
	l    NodeLauncher
	kind string
	opts []core.Option

	op     sync.Mutex // serialises SetWorkers and Close
	mu     sync.Mutex // guards nodes, seq and closed
	nodes  []*core.Node
	seq    int
	closed bool
}

// NewNodeSet returns an empty set of nodes of kind, made by l with opts
// (core.WithKindArgs for the queue's endpoint, core.WithRegistry, …).
func NewNodeSet(l NodeLauncher, kind string, opts ...core.Option) (*NodeSet, error) {
	if l == nil || kind == "" {
		return nil, fmt.Errorf("%w: nil launcher or empty kind", ErrInvalidWorkerLoop)
	}
	return &NodeSet{l: l, kind: kind, opts: append([]core.Option(nil), opts...)}, nil
}

// Workers returns the number of nodes running (stopping ones not
// counted).
func (s *NodeSet) Workers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.nodes)
}

// SetWorkers starts or stops nodes until n (≥ 0) run, named kind-1,
// kind-2, … in start order. It returns the first error of a node that
// would not start (the nodes started before it keep running), of a
// stop (core.ErrStopTimeout when a node had to be killed), or
// ErrWorkerSetClosed.
func (s *NodeSet) SetWorkers(ctx context.Context, n int) error {
	s.op.Lock()
	defer s.op.Unlock()
	return s.setWorkers(ctx, max(n, 0))
}

func (s *NodeSet) setWorkers(ctx context.Context, n int) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrWorkerSetClosed
	}
	var stopping []*core.Node
	if n < len(s.nodes) {
		stopping = append(stopping, s.nodes[n:]...)
		s.nodes = s.nodes[:n]
	}
	cur := len(s.nodes)
	s.mu.Unlock()
	for i := cur; i < n; i++ {
		if err := s.start(ctx); err != nil {
			return err
		}
	}
	return stopNodes(ctx, stopping)
}

// start makes and starts one node.
func (s *NodeSet) start(ctx context.Context) error {
	s.mu.Lock()
	s.seq++
	name := fmt.Sprintf("%s-%d", s.kind, s.seq)
	s.mu.Unlock()
	node, err := s.l.NewNode(s.kind, name, s.opts...)
	if err != nil {
		return err
	}
	if err := node.Start(ctx); err != nil {
		node.Close()
		return err
	}
	s.mu.Lock()
	s.nodes = append(s.nodes, node)
	s.mu.Unlock()
	return nil
}

// stopNodes stops the nodes in parallel and releases them.
func stopNodes(ctx context.Context, nodes []*core.Node) error {
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, node := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = errors.Join(node.Stop(ctx), node.Close())
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Close stops every node and returns after they have ended. It is
// idempotent.
func (s *NodeSet) Close() error {
	s.op.Lock()
	defer s.op.Unlock()
	s.mu.Lock()
	nodes := s.nodes
	s.nodes, s.closed = nil, true
	s.mu.Unlock()
	return stopNodes(context.Background(), nodes)
}

// WorkerBehavior returns the Behavior of a worker node: its Setup
// starts a proxy.Worker serving h for the Queue whose backend is
// endpoint (options as for proxy.NewWorker); its Teardown waits for the
// request in progress to be answered, until its ctx ends (the node's
// stop timeout), then closes the worker (a request handed to it in that
// moment is retried by the queue on another worker). Make one per node,
// in the kind's constructor, as here:
//
//	l.RegisterArgs("worker", func(args []string) (core.Behavior, error) {
//		return feedback.WorkerBehavior(args[0], handler), nil
//	})
func WorkerBehavior(endpoint string, h proxy.Handler, opts ...proxy.Option) core.Behavior {
	var sw *setWorker
	return core.Behavior{
		Setup: func(ctx context.Context, _ *core.Peer) error {
			var err error
			sw, err = startSetWorker(endpoint, h, opts)
			return err
		},
		Teardown: func(ctx context.Context, _ *core.Peer) error {
			if sw == nil {
				return nil
			}
			waitIdle(ctx, sw)
			return sw.w.Close()
		},
	}
}
