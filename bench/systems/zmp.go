package systems

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/gozmp/zmp/bench/spec"
	"github.com/gozmp/zmp/core"
)

// zmp: the library under test. Both processes share a directory
// registry (and IPC socket directory) in the measurement's Dir; the
// client finds the server by name, as a zmp program would.
const (
	zmpService = "echo"
	zmpTopic   = "bench"
	// zmpSubQueue is each subscription's receive queue: large enough
	// that a subscriber draining it in a tight loop does not drop.
	zmpSubQueue = 8192
)

func zmpSystem() *System {
	return &System{Name: "zmp", RPC: true, PubSub: true, IPC: true, Curve: true, NewEcho: newZmpEcho, DialEcho: dialZmpEcho, NewPub: newZmpPub, DialSubs: dialZmpSubs}
}

// newZmpPeer makes a peer registered in ep.Dir, binding on
// ep.Transport, secured as the server side (server) or a client side of
// ep.Security.
func newZmpPeer(ctx context.Context, ep Endpoint, name string, server bool) (*core.Peer, error) {
	reg, err := core.NewDirRegistry(ep.Dir)
	if err != nil {
		return nil, err
	}
	secure := zmpClientSecurity
	if server {
		secure = zmpServerSecurity
	}
	sec, err := secure(ep)
	if err != nil {
		return nil, err
	}
	opts := append([]core.Option{core.WithRegistry(reg), core.WithRuntimeDir(ep.Dir)}, sec...)
	if ep.Transport == spec.IPC {
		opts = append(opts, core.WithTransport(core.IPC))
	}
	return core.NewPeer(ctx, name, opts...)
}

type zmpServer struct{ p *core.Peer }

func (s *zmpServer) Addr() string { return s.p.Name() }
func (s *zmpServer) Close() error { return s.p.Close() }

func (s *zmpServer) Stats() map[string]float64 {
	st := s.p.Stats()
	return map[string]float64{
		"served":     float64(st.Services[zmpService].Calls),
		"overloaded": float64(st.Server.Overloaded),
	}
}

func newZmpEcho(ctx context.Context, ep Endpoint) (Server, error) {
	p, err := newZmpPeer(ctx, ep, "bench-server", true)
	if err != nil {
		return nil, err
	}
	err = p.HandleFunc(zmpService, func(_ context.Context, r *core.Request) ([]byte, error) { return r.Body, nil })
	if err != nil {
		p.Close()
		return nil, err
	}
	return &zmpServer{p: p}, nil
}

type zmpCaller struct{ p *core.Peer }

func dialZmpEcho(ctx context.Context, ep Endpoint, _ string) (Caller, error) {
	p, err := newZmpPeer(ctx, ep, "bench-client", false)
	if err != nil {
		return nil, err
	}
	if _, err := p.Call(ctx, zmpService, []byte("warm")); err != nil {
		p.Close()
		return nil, fmt.Errorf("first call: %w", err)
	}
	return &zmpCaller{p: p}, nil
}

func (c *zmpCaller) Run(ctx context.Context, n int, payload []byte, rec *Recorder) error {
	return parallel(ctx, n, func(ctx context.Context) error {
		_, err := c.p.Call(ctx, zmpService, payload)
		return err
	}, rec)
}

func (c *zmpCaller) Close() error { return c.p.Close() }

type zmpPub struct {
	zmpServer
	pace bool
}

func newZmpPub(ctx context.Context, ep Endpoint, o PubOptions) (Publisher, error) {
	p, err := newZmpPeer(ctx, ep, "bench-server", true)
	if err != nil {
		return nil, err
	}
	if err := p.Advertise(zmpTopic); err != nil {
		p.Close()
		return nil, err
	}
	return &zmpPub{zmpServer: zmpServer{p: p}, pace: o.Pace}, nil
}

// Run publishes flat out; when pacing, it waits before each message
// until every subscriber's queue has room (Peer.WaitRoom, what a zmp
// program that prefers slowing down to losing messages does), so that
// the publisher spends its time on messages that are delivered.
func (s *zmpPub) Run(ctx context.Context, payload []byte) error {
	for i := 0; !stopped(ctx, i); i++ {
		if s.pace {
			if err := s.p.WaitRoom(ctx, zmpTopic); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
		if err := s.p.Publish(zmpTopic, payload); err != nil {
			return err
		}
	}
	return nil
}

func (s *zmpPub) Stats() map[string]float64 {
	ts := s.p.Stats().Topics[zmpTopic]
	return map[string]float64{
		"published":   float64(ts.Published),
		"pub_dropped": float64(ts.Dropped),
	}
}

type zmpSubs struct {
	peers  []*core.Peer
	subs   []*core.Subscription
	counts *Counters
	wg     sync.WaitGroup
}

func dialZmpSubs(ctx context.Context, ep Endpoint, _ string, n int) (Subscribers, error) {
	s := &zmpSubs{counts: NewCounters(n)}
	for i := range n {
		if err := s.add(ctx, ep, i); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// add makes subscriber i: a peer of its own, so a connection of its own.
func (s *zmpSubs) add(ctx context.Context, ep Endpoint, i int) error {
	p, err := newZmpPeer(ctx, ep, fmt.Sprintf("bench-sub-%d", i), false)
	if err != nil {
		return err
	}
	return s.subscribe(p, i)
}

// subscribe makes p, subscriber i, subscribe and count what it gets;
// s owns p from then on.
func (s *zmpSubs) subscribe(p *core.Peer, i int) error {
	s.peers = append(s.peers, p)
	sub, err := p.Subscribe(zmpTopic, core.WithQueue(zmpSubQueue, core.DropNewest))
	if err != nil {
		return err
	}
	s.subs = append(s.subs, sub)
	s.wg.Go(func() {
		for range sub.C() {
			s.counts.Add(i)
		}
	})
	return nil
}

func (s *zmpSubs) Ready(ctx context.Context) error {
	for i, sub := range s.subs {
		if err := sub.WaitConnected(ctx, 1); err != nil {
			return fmt.Errorf("subscriber %d: %w", i, err)
		}
	}
	return nil
}

func (s *zmpSubs) Counts() *Counters { return s.counts }

func (s *zmpSubs) Stats() map[string]float64 {
	var dropped, missed uint64
	for _, sub := range s.subs {
		st := sub.Stats()
		dropped += st.Dropped
		missed += st.Missed
	}
	return map[string]float64{"sub_dropped": float64(dropped), "sub_missed": float64(missed)}
}

func (s *zmpSubs) Close() error {
	var errs []error
	for _, sub := range s.subs {
		errs = append(errs, sub.Close())
	}
	s.wg.Wait()
	return errors.Join(append(errs, closePeers(s.peers))...)
}
