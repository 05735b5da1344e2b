package systems

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gozmp/zmp/core"
)

// The scale cases run zmp only. Their server sides are zmp's echo
// provider and publisher (NewEcho, NewPub); their client sides are
// many peers in one process, made here.
//
// The many client peers of the callers and subscribers cases find the
// server through a fixed registry that holds the server's entry only
// (read once from the measurement's directory registry). Sharing the
// directory registry instead would make every one of 1,000 peers read
// 1,000 entry files at each of its discovery readings: that would
// measure the registry (which the registry cases do), not the provider.

// zmpServerName is the registry name of the server side (zmpServer).
const zmpServerName = "bench-server"

// fixedRegistry is a Registry that lists the same entries whatever is
// registered in it: registering and deregistering succeed and change
// nothing.
type fixedRegistry struct{ nodes []core.NodeInfo }

func (r fixedRegistry) Register(context.Context, core.NodeInfo, time.Duration) error { return nil }
func (r fixedRegistry) Deregister(context.Context, string, string) error             { return nil }
func (r fixedRegistry) Nodes(context.Context) ([]core.NodeInfo, error) {
	return slices.Clone(r.nodes), nil
}

// serverRegistry reads the server's entry from ep's directory registry
// and returns a fixed registry holding it, without a lease (the copy
// must not expire while the server renews the original).
func serverRegistry(ctx context.Context, ep Endpoint) (core.Registry, error) {
	reg, err := core.NewDirRegistry(ep.Dir)
	if err != nil {
		return nil, err
	}
	info, err := core.Lookup(ctx, reg, zmpServerName)
	if err != nil {
		return nil, fmt.Errorf("looking up %s: %w", zmpServerName, err)
	}
	info.Expires = time.Time{}
	return fixedRegistry{nodes: []core.NodeInfo{info}}, nil
}

// newScalePeer makes client peer i on reg, binding on ep's transport.
func newScalePeer(ctx context.Context, ep Endpoint, reg core.Registry, role string, i int) (*core.Peer, error) {
	opts := []core.Option{core.WithRegistry(reg), core.WithRuntimeDir(ep.Dir)}
	if ep.Transport == "ipc" {
		opts = append(opts, core.WithTransport(core.IPC))
	}
	return core.NewPeer(ctx, fmt.Sprintf("bench-%s-%d", role, i), opts...)
}

// ZmpCallers is N caller peers of one echo provider, each with a
// connection of its own.
type ZmpCallers struct {
	peers  []*core.Peer
	errors atomic.Uint64
}

// DialZmpCallers makes n caller peers and has each make one call, so
// that every connection is up when it returns.
func DialZmpCallers(ctx context.Context, ep Endpoint, n int) (*ZmpCallers, error) {
	reg, err := serverRegistry(ctx, ep)
	if err != nil {
		return nil, err
	}
	c := &ZmpCallers{}
	for i := range n {
		p, err := newScalePeer(ctx, ep, reg, "caller", i)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("caller %d: %w", i, err)
		}
		c.peers = append(c.peers, p)
		if _, err := p.Call(ctx, zmpService, []byte("warm")); err != nil {
			c.Close()
			return nil, fmt.Errorf("caller %d: first call: %w", i, err)
		}
	}
	return c, nil
}

// Run has every caller make one call at a time until ctx ends,
// reporting each to rec. A failed call is counted (Stats) and the
// caller goes on after a millisecond: with a thousand callers an
// overloaded answer is a figure, not the end of the measurement.
func (c *ZmpCallers) Run(ctx context.Context, payload []byte, rec *Recorder) {
	var wg sync.WaitGroup
	for _, p := range c.peers {
		wg.Go(func() {
			for ctx.Err() == nil {
				start := time.Now()
				if _, err := p.Call(ctx, zmpService, payload); err != nil {
					if ctx.Err() == nil {
						c.errors.Add(1)
						time.Sleep(time.Millisecond)
					}
					continue
				}
				rec.Done(time.Since(start))
			}
		})
	}
	wg.Wait()
}

// Stats counts the calls that failed.
func (c *ZmpCallers) Stats() map[string]float64 {
	return map[string]float64{"call_errors": float64(c.errors.Load())}
}

// Close closes every caller, several at a time.
func (c *ZmpCallers) Close() error { return closePeers(c.peers) }

// closePeers closes peers, 32 at a time: each Close waits for its
// goroutines, and a thousand in a row take long.
func closePeers(peers []*core.Peer) error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	sem := make(chan struct{}, 32)
	for _, p := range peers {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := p.Close(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// DialZmpScaleSubs makes n subscriber peers, each subscribed to the
// publisher's topic over a connection of its own.
func DialZmpScaleSubs(ctx context.Context, ep Endpoint, n int) (Subscribers, error) {
	reg, err := serverRegistry(ctx, ep)
	if err != nil {
		return nil, err
	}
	s := &zmpSubs{counts: NewCounters(n)}
	for i := range n {
		if err := s.addScale(ctx, ep, reg, i); err != nil {
			s.Close()
			return nil, fmt.Errorf("subscriber %d: %w", i, err)
		}
	}
	return s, nil
}

// addScale makes subscriber i on the fixed registry reg.
func (s *zmpSubs) addScale(ctx context.Context, ep Endpoint, reg core.Registry, i int) error {
	p, err := newScalePeer(ctx, ep, reg, "sub", i)
	if err != nil {
		return err
	}
	return s.subscribe(p, i)
}
