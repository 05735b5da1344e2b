package systems

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// tcpPub writes every message to every subscriber connection in turn,
// blocking while a subscriber's socket buffer is full: TCP's own back
// pressure, no queue and no drops.
type tcpPub struct {
	ln        net.Listener
	conns     connSet
	subs      int
	buffered  bool
	published atomic.Uint64
}

// tcpWaitSubs bounds how long a publisher waits for its subscribers.
const tcpWaitSubs = 10 * time.Second

func newTCPPub(buffered bool) func(context.Context, Endpoint, PubOptions) (Publisher, error) {
	return func(_ context.Context, ep Endpoint, o PubOptions) (Publisher, error) {
		ln, err := tcpListen(ep, "tcp-pub")
		if err != nil {
			return nil, err
		}
		p := &tcpPub{ln: ln, subs: max(o.Subs, 1), buffered: buffered}
		p.conns.accept(ln, nil)
		return p, nil
	}
}

func (p *tcpPub) Addr() string { return tcpAddr(p.ln) }
func (p *tcpPub) Close() error { return p.conns.close(p.ln) }
func (p *tcpPub) Stats() map[string]float64 {
	return map[string]float64{"published": float64(p.published.Load())}
}

// waitSubs waits until every expected subscriber is accepted.
func (p *tcpPub) waitSubs(ctx context.Context) ([]net.Conn, error) {
	deadline := time.Now().Add(tcpWaitSubs)
	for {
		conns := p.conns.snapshot()
		if len(conns) >= p.subs {
			return conns, nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return nil, fmt.Errorf("%d of %d subscribers connected", len(conns), p.subs)
		}
		time.Sleep(time.Millisecond)
	}
}

func (p *tcpPub) Run(ctx context.Context, payload []byte) error {
	conns, err := p.waitSubs(ctx)
	if err != nil {
		return err
	}
	// A write blocked on a stalled subscriber returns once ctx ends.
	stop := context.AfterFunc(ctx, func() {
		for _, c := range conns {
			c.SetWriteDeadline(time.Now())
		}
	})
	defer stop()
	ws := make([]io.Writer, len(conns))
	for i, c := range conns {
		ws[i] = c
		if p.buffered {
			ws[i] = bufio.NewWriterSize(c, tcpBufSize)
		}
	}
	p.publish(ctx, ws, frame(payload))
	return nil
}

// publish writes f to every writer until ctx ends; a subscriber whose
// connection fails is dropped, and with none left it waits for ctx.
func (p *tcpPub) publish(ctx context.Context, ws []io.Writer, f []byte) {
	for i := 0; !stopped(ctx, i) && len(ws) > 0; i++ {
		ws = slices.DeleteFunc(ws, func(w io.Writer) bool {
			_, err := w.Write(f)
			return err != nil
		})
		p.published.Add(1)
	}
	<-ctx.Done()
}

// tcpSubs reads frames on n connections.
type tcpSubs struct {
	conns  []net.Conn
	counts *Counters
	wg     sync.WaitGroup
}

func dialTCPSubs(ctx context.Context, _ Endpoint, addr string, n int) (Subscribers, error) {
	s := &tcpSubs{counts: NewCounters(n)}
	for i := range n {
		c, err := tcpDial(ctx, addr)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.conns = append(s.conns, c)
		s.wg.Go(func() { s.read(c, i) })
	}
	return s, nil
}

func (s *tcpSubs) read(c net.Conn, i int) {
	r := newFrameReader(c)
	for {
		if _, err := r.next(); err != nil {
			return
		}
		s.counts.Add(i)
	}
}

func (s *tcpSubs) Ready(context.Context) error { return nil }
func (s *tcpSubs) Counts() *Counters           { return s.counts }
func (s *tcpSubs) Stats() map[string]float64   { return nil }

func (s *tcpSubs) Close() error {
	for _, c := range s.conns {
		c.Close()
	}
	s.wg.Wait()
	return nil
}
