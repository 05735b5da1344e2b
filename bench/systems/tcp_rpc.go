package systems

import (
	"context"
	"net"
	"sync/atomic"
)

// tcpEcho answers every frame with the same frame, one write each.
type tcpEcho struct {
	ln     net.Listener
	conns  connSet
	served atomic.Uint64
}

func newTCPEcho(_ context.Context, ep Endpoint) (Server, error) {
	ln, err := tcpListen(ep, "tcp-echo")
	if err != nil {
		return nil, err
	}
	s := &tcpEcho{ln: ln}
	s.conns.accept(ln, s.serve)
	return s, nil
}

func (s *tcpEcho) serve(c net.Conn) {
	r := newFrameReader(c)
	for {
		f, err := r.next()
		if err != nil {
			return
		}
		if _, err := c.Write(f); err != nil {
			return
		}
		s.served.Add(1)
	}
}

func (s *tcpEcho) Addr() string { return tcpAddr(s.ln) }
func (s *tcpEcho) Close() error { return s.conns.close(s.ln) }
func (s *tcpEcho) Stats() map[string]float64 {
	return map[string]float64{"served": float64(s.served.Load())}
}

// tcpCaller pipelines requests on one connection.
type tcpCaller struct {
	c net.Conn
	r *frameReader
}

func dialTCPEcho(ctx context.Context, _ Endpoint, addr string) (Caller, error) {
	c, err := tcpDial(ctx, addr)
	if err != nil {
		return nil, err
	}
	return &tcpCaller{c: c, r: newFrameReader(c)}, nil
}

func (t *tcpCaller) Run(ctx context.Context, n int, payload []byte, rec *Recorder) error {
	f := frame(payload)
	send := func() error { _, err := t.c.Write(f); return err }
	recv := func() error { _, err := t.r.next(); return err }
	return pipeline(ctx, n, send, recv, rec)
}

func (t *tcpCaller) Close() error { return t.c.Close() }
