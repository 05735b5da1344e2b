//go:build libzmq

package systems

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/gozmp/zmp/bench/spec"
)

// libzmq: the C library through github.com/pebbe/zmq4 (cgo), the
// reference ZeroMQ. ROUTER/DEALER and PUB/SUB with default options
// (high-water marks of 1000 messages: a PUB drops beyond them). A
// libzmq socket is used by one goroutine at a time; blocking receives
// time out every libzmqPoll to notice a stop. Over CURVE, see
// libzmq_curve.go.

const libzmqPoll = 100 * time.Millisecond

func libzmqSystem() *System {
	return &System{Name: "libzmq", RPC: true, PubSub: true, IPC: true, Curve: true, CurveSkip: libzmqCurveSkip(), NewEcho: newLibzmqEcho, DialEcho: dialLibzmqEcho, NewPub: newLibzmqPub, DialSubs: dialLibzmqSubs}
}

// LibzmqVersion returns the version of the linked libzmq.
func LibzmqVersion() string {
	major, minor, patch := zmq.Version()
	return fmt.Sprintf("%d.%d.%d", major, minor, patch)
}

// libzmqSock is a context with its sockets, closed together. The
// sockets of one side share one context, so one I/O thread.
type libzmqSock struct {
	ctx   *zmq.Context
	s     *zmq.Socket   // the first socket
	socks []*zmq.Socket // every socket
}

func newLibzmqSock(t zmq.Type) (*libzmqSock, error) {
	ctx, err := zmq.NewContext()
	if err != nil {
		return nil, err
	}
	l := &libzmqSock{ctx: ctx}
	if l.s, err = l.socket(t); err != nil {
		l.close()
		return nil, err
	}
	return l, nil
}

// socket adds a socket of type t to the context.
func (l *libzmqSock) socket(t zmq.Type) (*zmq.Socket, error) {
	s, err := l.ctx.NewSocket(t)
	if err != nil {
		return nil, err
	}
	l.socks = append(l.socks, s)
	return s, errors.Join(s.SetLinger(0), s.SetRcvtimeo(libzmqPoll))
}

// bind binds to a free loopback port or an ipc path and returns the
// endpoint bound.
func (l *libzmqSock) bind(ep Endpoint, name string) (string, error) {
	e := zmqEndpoint(ep, name)
	if ep.Transport == spec.TCP {
		e = "tcp://127.0.0.1:*"
	}
	if err := l.s.Bind(e); err != nil {
		return "", err
	}
	return l.s.GetLastEndpoint()
}

func (l *libzmqSock) close() error {
	var errs []error
	for _, s := range l.socks {
		errs = append(errs, s.Close())
	}
	return errors.Join(append(errs, l.ctx.Term())...)
}

// timedOut reports whether err is a receive timeout.
func timedOut(err error) bool { return zmq.AsErrno(err) == zmq.Errno(syscall.EAGAIN) }

// libzmqLoop runs recv-and-handle until stop is set, on one goroutine.
type libzmqLoop struct {
	stop atomic.Bool
	wg   sync.WaitGroup
	n    atomic.Uint64
}

func (l *libzmqLoop) run(recv func() error) {
	l.wg.Go(func() {
		for !l.stop.Load() {
			err := recv()
			if err != nil && !timedOut(err) {
				return
			}
			if err == nil {
				l.n.Add(1)
			}
		}
	})
}

func (l *libzmqLoop) halt() { l.stop.Store(true); l.wg.Wait() }

type libzmqEcho struct {
	sock *libzmqSock
	addr string
	loop libzmqLoop
}

func newLibzmqEcho(_ context.Context, ep Endpoint) (Server, error) {
	sock, err := newLibzmqSock(zmq.ROUTER)
	if err != nil {
		return nil, err
	}
	if err := libzmqCurveServer(sock.s, ep); err != nil {
		sock.close()
		return nil, err
	}
	addr, err := sock.bind(ep, "libzmq-echo")
	if err != nil {
		sock.close()
		return nil, err
	}
	e := &libzmqEcho{sock: sock, addr: addr}
	e.loop.run(func() error {
		m, err := sock.s.RecvMessageBytes(0)
		if err == nil {
			_, err = sock.s.SendMessage(m)
		}
		return err
	})
	return e, nil
}

func (e *libzmqEcho) Addr() string { return e.addr }
func (e *libzmqEcho) Stats() map[string]float64 {
	return map[string]float64{"served": float64(e.loop.n.Load())}
}
func (e *libzmqEcho) Close() error { e.loop.halt(); return e.sock.close() }

type libzmqCaller struct{ sock *libzmqSock }

func dialLibzmqEcho(_ context.Context, ep Endpoint, addr string) (Caller, error) {
	key, err := libzmqServerKey(ep)
	if err != nil {
		return nil, err
	}
	sock, err := newLibzmqSock(zmq.DEALER)
	if err != nil {
		return nil, err
	}
	if err := errors.Join(sock.s.SetRcvtimeo(callTimeout), libzmqCurveClient(sock.s, key), sock.s.Connect(addr)); err != nil {
		sock.close()
		return nil, err
	}
	return &libzmqCaller{sock: sock}, nil
}

func (c *libzmqCaller) Run(ctx context.Context, n int, payload []byte, rec *Recorder) error {
	send := func() error { _, err := c.sock.s.SendBytes(payload, 0); return err }
	recv := func() error { _, err := c.sock.s.RecvBytes(0); return err }
	return pipeline(ctx, n, send, recv, rec)
}

func (c *libzmqCaller) Close() error { return c.sock.close() }

type libzmqPub struct {
	sock      *libzmqSock
	addr      string
	published atomic.Uint64
}

func newLibzmqPub(_ context.Context, ep Endpoint, _ PubOptions) (Publisher, error) {
	sock, err := newLibzmqSock(zmq.PUB)
	if err != nil {
		return nil, err
	}
	if err := libzmqCurveServer(sock.s, ep); err != nil {
		sock.close()
		return nil, err
	}
	addr, err := sock.bind(ep, "libzmq-pub")
	if err != nil {
		sock.close()
		return nil, err
	}
	return &libzmqPub{sock: sock, addr: addr}, nil
}

// Run sends flat out; beyond the high-water mark libzmq drops silently.
func (p *libzmqPub) Run(ctx context.Context, payload []byte) error {
	for i := 0; !stopped(ctx, i); i++ {
		if _, err := p.sock.s.SendBytes(payload, 0); err != nil {
			return err
		}
		p.published.Add(1)
	}
	return nil
}

func (p *libzmqPub) Addr() string { return p.addr }
func (p *libzmqPub) Close() error { return p.sock.close() }
func (p *libzmqPub) Stats() map[string]float64 {
	return map[string]float64{"published": float64(p.published.Load())}
}

type libzmqSubs struct {
	sock   *libzmqSock
	key    string // the server's CURVE public key, "" over NULL
	loops  []*libzmqLoop
	counts *Counters
}

func dialLibzmqSubs(_ context.Context, ep Endpoint, addr string, n int) (Subscribers, error) {
	key, err := libzmqServerKey(ep)
	if err != nil {
		return nil, err
	}
	sock, err := newLibzmqSock(zmq.SUB)
	if err != nil {
		return nil, err
	}
	s := &libzmqSubs{sock: sock, key: key, counts: NewCounters(n)}
	for i := range n {
		if err := s.add(addr, i); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// add connects subscriber i, with a socket of its own, and starts its
// receive loop.
func (s *libzmqSubs) add(addr string, i int) error {
	sub := s.sock.s
	if i > 0 {
		var err error
		if sub, err = s.sock.socket(zmq.SUB); err != nil {
			return err
		}
	}
	if err := errors.Join(sub.SetSubscribe(""), libzmqCurveClient(sub, s.key), sub.Connect(addr)); err != nil {
		return err
	}
	loop := &libzmqLoop{}
	s.loops = append(s.loops, loop)
	loop.run(func() error {
		_, err := sub.RecvBytes(0)
		if err == nil {
			s.counts.Add(i)
		}
		return err
	})
	return nil
}

// Ready waits subSettle: a SUB socket cannot tell when the publisher
// has its subscription.
func (s *libzmqSubs) Ready(ctx context.Context) error {
	select {
	case <-time.After(subSettle):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *libzmqSubs) Counts() *Counters         { return s.counts }
func (s *libzmqSubs) Stats() map[string]float64 { return nil }

func (s *libzmqSubs) Close() error {
	for _, l := range s.loops {
		l.halt()
	}
	return s.sock.close()
}
