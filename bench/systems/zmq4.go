package systems

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zeromq/zmq4"

	"github.com/gozmp/zmp/bench/spec"
)

// zmq4: github.com/go-zeromq/zmq4 used directly, the pure-Go ZeroMQ
// that zmp's transport replaces. ROUTER serves, one DEALER calls (a
// DEALER with one peer only: with two it sends every message to both);
// PUB publishes to SUBs. Default options.

// subSettle is how long a SUB socket that cannot confirm its
// subscription (zmq4, libzmq) waits for it to reach the publisher.
const subSettle = 300 * time.Millisecond

func zmq4System() *System {
	return &System{Name: "zmq4", RPC: true, PubSub: true, IPC: true, NewEcho: newZmq4Echo, DialEcho: dialZmq4Echo, NewPub: newZmq4Pub, DialSubs: dialZmq4Subs}
}

// zmqEndpoint is where a ZeroMQ socket binds: a free loopback port or
// an ipc path in ep.Dir.
func zmqEndpoint(ep Endpoint, name string) string {
	if ep.Transport == spec.IPC {
		return "ipc://" + filepath.Join(ep.Dir, name+".sock")
	}
	return "tcp://127.0.0.1:0"
}

// zmq4Bound returns the endpoint a bound socket listens on.
func zmq4Bound(s zmq4.Socket, ep Endpoint, name string) string {
	if ep.Transport == spec.IPC {
		return zmqEndpoint(ep, name)
	}
	return "tcp://" + s.Addr().String()
}

// zmq4Close closes s; zmq4 reports connections its peers closed first
// as errors, which are not.
func zmq4Close(s zmq4.Socket) error {
	if err := s.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

type zmq4Echo struct {
	s      zmq4.Socket
	addr   string
	wg     sync.WaitGroup
	served atomic.Uint64
}

func newZmq4Echo(_ context.Context, ep Endpoint) (Server, error) {
	s := zmq4.NewRouter(context.Background())
	if err := s.Listen(zmqEndpoint(ep, "zmq4-echo")); err != nil {
		s.Close()
		return nil, err
	}
	e := &zmq4Echo{s: s, addr: zmq4Bound(s, ep, "zmq4-echo")}
	e.wg.Go(e.serve)
	return e, nil
}

// serve echoes each request ([identity, payload]) to its sender until
// the socket is closed.
func (e *zmq4Echo) serve() {
	for {
		m, err := e.s.Recv()
		if err != nil {
			return
		}
		if err := e.s.Send(m); err != nil {
			return
		}
		e.served.Add(1)
	}
}

func (e *zmq4Echo) Addr() string { return e.addr }
func (e *zmq4Echo) Stats() map[string]float64 {
	return map[string]float64{"served": float64(e.served.Load())}
}

func (e *zmq4Echo) Close() error {
	err := zmq4Close(e.s)
	e.wg.Wait()
	return err
}

type zmq4Caller struct{ s zmq4.Socket }

func dialZmq4Echo(_ context.Context, _ Endpoint, addr string) (Caller, error) {
	s := zmq4.NewDealer(context.Background())
	if err := s.Dial(addr); err != nil {
		s.Close()
		return nil, err
	}
	return &zmq4Caller{s: s}, nil
}

func (c *zmq4Caller) Run(ctx context.Context, n int, payload []byte, rec *Recorder) error {
	send := func() error { return c.s.Send(zmq4.NewMsg(payload)) }
	recv := func() error { _, err := c.s.Recv(); return err }
	return pipeline(ctx, n, send, recv, rec)
}

func (c *zmq4Caller) Close() error { return zmq4Close(c.s) }

type zmq4Pub struct {
	s         zmq4.Socket
	addr      string
	published atomic.Uint64
}

func newZmq4Pub(_ context.Context, ep Endpoint, _ PubOptions) (Publisher, error) {
	s := zmq4.NewPub(context.Background())
	if err := s.Listen(zmqEndpoint(ep, "zmq4-pub")); err != nil {
		s.Close()
		return nil, err
	}
	return &zmq4Pub{s: s, addr: zmq4Bound(s, ep, "zmq4-pub")}, nil
}

// Run sends flat out. zmq4 keeps the caller's slice (it is never
// changed here) and queues without bound for a slow subscriber.
func (p *zmq4Pub) Run(ctx context.Context, payload []byte) error {
	msg := zmq4.NewMsg(payload)
	for i := 0; !stopped(ctx, i); i++ {
		if err := p.s.Send(msg); err != nil {
			return err
		}
		p.published.Add(1)
	}
	return nil
}

func (p *zmq4Pub) Addr() string { return p.addr }
func (p *zmq4Pub) Close() error { return zmq4Close(p.s) }
func (p *zmq4Pub) Stats() map[string]float64 {
	return map[string]float64{"published": float64(p.published.Load())}
}

type zmq4Subs struct {
	socks  []zmq4.Socket
	counts *Counters
	wg     sync.WaitGroup
}

func dialZmq4Subs(_ context.Context, _ Endpoint, addr string, n int) (Subscribers, error) {
	s := &zmq4Subs{counts: NewCounters(n)}
	for i := range n {
		sub := zmq4.NewSub(context.Background())
		s.socks = append(s.socks, sub)
		if err := errors.Join(sub.Dial(addr), sub.SetOption(zmq4.OptionSubscribe, "")); err != nil {
			s.Close()
			return nil, err
		}
		s.wg.Go(func() {
			for {
				if _, err := sub.Recv(); err != nil {
					return
				}
				s.counts.Add(i)
			}
		})
	}
	return s, nil
}

// Ready waits subSettle: a SUB socket cannot tell when the publisher
// has its subscription.
func (s *zmq4Subs) Ready(ctx context.Context) error {
	select {
	case <-time.After(subSettle):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *zmq4Subs) Counts() *Counters         { return s.counts }
func (s *zmq4Subs) Stats() map[string]float64 { return nil }

func (s *zmq4Subs) Close() error {
	var errs []error
	for _, sub := range s.socks {
		errs = append(errs, zmq4Close(sub))
	}
	s.wg.Wait()
	return errors.Join(errs...)
}
