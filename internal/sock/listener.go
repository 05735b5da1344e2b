package sock

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gozmp/zmp/internal/zmtp"
)

// Defaults for ListenConfig.
const (
	DefaultHandshakeTimeout = 5 * time.Second
	DefaultMaxHandshakes    = 256
)

// ListenConfig configures a Listener.
type ListenConfig struct {
	ZMTP zmtp.Config
	// HandshakeTimeout bounds the greeting and READY exchange of each
	// accepted connection. Default DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// MaxHandshakes bounds connections accepted but not yet through
	// their handshake; more are closed at once and counted.
	// Default DefaultMaxHandshakes.
	MaxHandshakes int
	// OnConn receives each connection that completed its handshake. It
	// runs on that connection's own goroutine.
	OnConn func(*zmtp.Conn)
}

// ListenerStats counts what a Listener refused.
type ListenerStats struct {
	Accepted, HandshakeFailed, Overflow uint64
}

// Listener accepts connections and runs each handshake on its own
// goroutine under a deadline, so a silent or half-greeting peer never
// delays another peer's connect (zmq4 defect 8).
type Listener struct {
	cfg      ListenConfig
	nl       net.Listener
	endpoint Endpoint

	mu      sync.Mutex
	pending map[net.Conn]struct{}
	closed  bool
	wg      sync.WaitGroup

	accepted, failed, overflow atomic.Uint64
}

// Listen binds endpoint and starts accepting.
func Listen(endpoint string, cfg ListenConfig) (*Listener, error) {
	e, err := ParseEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.MaxHandshakes <= 0 {
		cfg.MaxHandshakes = DefaultMaxHandshakes
	}
	nl, err := listen(e)
	if err != nil {
		return nil, err
	}
	l := &Listener{cfg: cfg, nl: nl, endpoint: boundEndpoint(e, nl), pending: map[net.Conn]struct{}{}}
	l.wg.Add(1)
	go l.acceptLoop()
	return l, nil
}

// Endpoint returns the bound endpoint, with a tcp port 0 resolved.
func (l *Listener) Endpoint() string { return l.endpoint.String() }

// Stats returns the listener's counters.
func (l *Listener) Stats() ListenerStats {
	return ListenerStats{Accepted: l.accepted.Load(), HandshakeFailed: l.failed.Load(), Overflow: l.overflow.Load()}
}

func (l *Listener) acceptLoop() {
	defer l.wg.Done()
	var delay time.Duration
	for {
		nc, err := l.nl.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || l.isClosed() {
				return
			}
			// Out of file descriptors and similar: back off, keep serving.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			time.Sleep(delay)
			continue
		}
		delay = 0
		if !l.track(nc) {
			l.overflow.Add(1)
			nc.Close()
			continue
		}
		l.wg.Add(1)
		go l.handshake(nc)
	}
}

func (l *Listener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

func (l *Listener) track(nc net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || len(l.pending) >= l.cfg.MaxHandshakes {
		return false
	}
	l.pending[nc] = struct{}{}
	return true
}

func (l *Listener) untrack(nc net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.pending, nc)
	return !l.closed
}

func (l *Listener) handshake(nc net.Conn) {
	defer l.wg.Done()
	c, err := zmtp.Handshake(nc, l.cfg.ZMTP, time.Now().Add(l.cfg.HandshakeTimeout))
	open := l.untrack(nc)
	if err != nil {
		l.failed.Add(1)
		return
	}
	if !open {
		c.Close()
		return
	}
	l.accepted.Add(1)
	l.cfg.OnConn(c)
}

// Close stops accepting, aborts handshakes in progress and waits for
// the listener's goroutines. Connections already handed to OnConn are
// the receiver's to close.
func (l *Listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		l.wg.Wait()
		return nil
	}
	l.closed = true
	for nc := range l.pending {
		nc.Close()
	}
	l.mu.Unlock()
	err := l.nl.Close()
	l.wg.Wait()
	if l.endpoint.Network == "unix" {
		os.Remove(l.endpoint.Address)
	}
	return err
}

// DialFunc opens a network connection; it is the seam for fault
// injection and custom networks. network is "tcp" or "unix".
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// Dial connects to endpoint and runs the handshake, bounded by ctx and
// by timeout, whichever ends first.
func Dial(ctx context.Context, endpoint string, cfg zmtp.Config, timeout time.Duration) (*zmtp.Conn, error) {
	return DialWith(ctx, nil, endpoint, cfg, timeout)
}

// DialWith is Dial with the connection opened by dial (nil: net.Dialer).
func DialWith(ctx context.Context, dial DialFunc, endpoint string, cfg zmtp.Config, timeout time.Duration) (*zmtp.Conn, error) {
	e, err := ParseEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if dial == nil {
		dial = new(net.Dialer).DialContext
	}
	nc, err := dial(ctx, e.Network, e.Address)
	if err != nil {
		return nil, err
	}
	deadline, _ := ctx.Deadline()
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Now()) })
	c, err := zmtp.Handshake(nc, cfg, deadline)
	if !stop() && err == nil {
		// ctx ended as the handshake finished: the deadline may be poisoned.
		c.Close()
		return nil, ctx.Err()
	}
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return c, err
}
