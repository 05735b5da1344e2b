package systems

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// nats: an embedded nats-server on a free loopback port, started in the
// server process, with nats.go clients. Every message goes through the
// broker: client → server → client. Default options (a subscriber's
// pending limit of 64 MiB / 512 Ki messages; the server cuts off a
// slow consumer).

const (
	natsService = "echo"
	natsSubject = "bench"
)

// NATSVersion is the version of the embedded nats-server.
const NATSVersion = server.VERSION

func natsSystem() *System {
	return &System{Name: "nats", RPC: true, PubSub: true, NewEcho: newNATSEcho, DialEcho: dialNATSEcho, NewPub: newNATSPub, DialSubs: dialNATSSubs}
}

// natsConnect connects a client that does not reconnect and counts its
// asynchronous errors (slow consumer) instead of printing them.
func natsConnect(url string, errs *atomic.Uint64) (*nats.Conn, error) {
	return nats.Connect(url, nats.NoReconnect(), nats.Timeout(callTimeout),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) { errs.Add(1) }))
}

// natsBroker is an embedded server with one client of the server side.
type natsBroker struct {
	ns   *server.Server
	nc   *nats.Conn
	errs atomic.Uint64
}

func startNATS() (*natsBroker, error) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true})
	if err != nil {
		return nil, err
	}
	ns.Start()
	b := &natsBroker{ns: ns}
	if !ns.ReadyForConnections(callTimeout) {
		b.Close()
		return nil, errors.New("nats-server did not start")
	}
	if b.nc, err = natsConnect(ns.ClientURL(), &b.errs); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

func (b *natsBroker) Addr() string { return b.ns.ClientURL() }

func (b *natsBroker) Stats() map[string]float64 {
	return map[string]float64{"slow_consumers": float64(b.ns.NumSlowConsumers()), "async_errors": float64(b.errs.Load())}
}

func (b *natsBroker) Close() error {
	if b.nc != nil {
		b.nc.Close()
	}
	b.ns.Shutdown()
	b.ns.WaitForShutdown()
	return nil
}

func newNATSEcho(context.Context, Endpoint) (Server, error) {
	b, err := startNATS()
	if err != nil {
		return nil, err
	}
	_, err = b.nc.Subscribe(natsService, func(m *nats.Msg) { m.Respond(m.Data) })
	if err == nil {
		err = b.nc.Flush()
	}
	if err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

type natsCaller struct {
	nc   *nats.Conn
	errs atomic.Uint64
}

func dialNATSEcho(_ context.Context, _ Endpoint, addr string) (Caller, error) {
	c := &natsCaller{}
	nc, err := natsConnect(addr, &c.errs)
	if err != nil {
		return nil, err
	}
	c.nc = nc
	return c, nil
}

func (c *natsCaller) Run(ctx context.Context, n int, payload []byte, rec *Recorder) error {
	return parallel(ctx, n, func(ctx context.Context) error {
		_, err := c.nc.RequestWithContext(ctx, natsService, payload)
		return err
	}, rec)
}

func (c *natsCaller) Close() error { c.nc.Close(); return nil }

type natsPub struct {
	*natsBroker
	published atomic.Uint64
}

func newNATSPub(context.Context, Endpoint, PubOptions) (Publisher, error) {
	b, err := startNATS()
	if err != nil {
		return nil, err
	}
	return &natsPub{natsBroker: b}, nil
}

// Run publishes flat out; nats.go buffers and writes in batches.
func (p *natsPub) Run(ctx context.Context, payload []byte) error {
	for i := 0; !stopped(ctx, i); i++ {
		if err := p.nc.Publish(natsSubject, payload); err != nil {
			return err
		}
		p.published.Add(1)
	}
	return nil
}

func (p *natsPub) Stats() map[string]float64 {
	st := p.natsBroker.Stats()
	st["published"] = float64(p.published.Load())
	return st
}

type natsSubs struct {
	conns  []*nats.Conn
	subs   []*nats.Subscription
	counts *Counters
	errs   atomic.Uint64
}

func dialNATSSubs(_ context.Context, _ Endpoint, addr string, n int) (Subscribers, error) {
	s := &natsSubs{counts: NewCounters(n)}
	for i := range n {
		if err := s.add(addr, i); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// add connects subscriber i, with a connection of its own.
func (s *natsSubs) add(addr string, i int) error {
	nc, err := natsConnect(addr, &s.errs)
	if err != nil {
		return err
	}
	s.conns = append(s.conns, nc)
	sub, err := nc.Subscribe(natsSubject, func(*nats.Msg) { s.counts.Add(i) })
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	s.subs = append(s.subs, sub)
	return nil
}

// Ready flushes every connection: the server has the subscriptions.
func (s *natsSubs) Ready(ctx context.Context) error {
	for _, nc := range s.conns {
		ctx, cancel := context.WithTimeout(ctx, callTimeout)
		err := nc.FlushWithContext(ctx)
		cancel()
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *natsSubs) Counts() *Counters { return s.counts }

func (s *natsSubs) Stats() map[string]float64 {
	var dropped int
	for _, sub := range s.subs {
		if d, err := sub.Dropped(); err == nil {
			dropped += d
		}
	}
	return map[string]float64{"sub_dropped": float64(dropped), "async_errors": float64(s.errs.Load())}
}

func (s *natsSubs) Close() error {
	for _, nc := range s.conns {
		nc.Close()
	}
	return nil
}
