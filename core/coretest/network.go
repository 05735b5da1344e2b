package coretest

import (
	"context"
	"net"
	"os"
	"sync"
	"time"

	"github.com/gozmp/zmp/core"
)

// Network is a fault-injecting dialer. Give its Option to the peers
// under test; every connection they open goes through it and can then
// be cut (closed at once, as when a process dies), stalled (bytes held
// in both directions without closing, as in a network partition) or
// delayed. Faults apply per destination address ("127.0.0.1:4242" or a
// socket path); the empty address means every destination.
type Network struct {
	mu      sync.Mutex
	conns   map[*faultConn]struct{}
	stalled map[string]bool
	delay   map[string]time.Duration
	changed chan struct{} // closed and replaced when faults change
}

// NewNetwork returns a Network with no faults.
func NewNetwork() *Network {
	return &Network{conns: map[*faultConn]struct{}{}, stalled: map[string]bool{}, delay: map[string]time.Duration{}, changed: make(chan struct{})}
}

// Option makes a peer dial through the network.
func (n *Network) Option() core.Option { return core.WithDialer(n.Dial) }

// Dial opens a connection subject to the network's faults.
func (n *Network) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := new(net.Dialer).DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	fc := &faultConn{Conn: c, n: n, addr: address, closed: make(chan struct{})}
	n.mu.Lock()
	n.conns[fc] = struct{}{}
	n.mu.Unlock()
	return fc, nil
}

// Cut closes every open connection to address; new ones may be made.
func (n *Network) Cut(address string) int {
	n.mu.Lock()
	var victims []*faultConn
	for c := range n.conns {
		if address == "" || c.addr == address {
			victims = append(victims, c)
		}
	}
	n.mu.Unlock()
	for _, c := range victims {
		c.Close()
	}
	return len(victims)
}

// Stall holds every byte to and from address, on open and new
// connections, until Heal: a partition the peers can only detect by
// their heartbeats.
func (n *Network) Stall(address string) { n.set(func() { n.stalled[address] = true }) }

// Delay adds d before every write to address.
func (n *Network) Delay(address string, d time.Duration) { n.set(func() { n.delay[address] = d }) }

// Heal removes the stall and delay of address.
func (n *Network) Heal(address string) {
	n.set(func() { delete(n.stalled, address); delete(n.delay, address) })
}

func (n *Network) set(f func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	f()
	close(n.changed)
	n.changed = make(chan struct{})
}

// fault returns whether addr is stalled, its delay, and a channel
// closed at the next change.
func (n *Network) fault(addr string) (bool, time.Duration, <-chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stalled[addr] || n.stalled[""], max(n.delay[addr], n.delay[""]), n.changed
}

func (n *Network) forget(c *faultConn) {
	n.mu.Lock()
	delete(n.conns, c)
	n.mu.Unlock()
}

type faultConn struct {
	net.Conn
	n      *Network
	addr   string
	once   sync.Once
	closed chan struct{}

	dmu           sync.Mutex
	writeDeadline time.Time
}

// waitFlowing blocks while the destination is stalled, until deadline
// (zero: none); it returns an error once closed or past the deadline.
func (c *faultConn) waitFlowing(deadline time.Time) error {
	for {
		stalled, _, changed := c.n.fault(c.addr)
		if !stalled {
			return nil
		}
		var expired <-chan time.Time
		if !deadline.IsZero() {
			t := time.NewTimer(time.Until(deadline))
			defer t.Stop()
			expired = t.C
		}
		select {
		case <-changed:
		case <-c.closed:
			return net.ErrClosed
		case <-expired:
			return os.ErrDeadlineExceeded
		}
	}
}

func (c *faultConn) Read(b []byte) (int, error) {
	if err := c.waitFlowing(time.Time{}); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(b)
	// Stalled while the bytes were in flight: hold them until healed.
	if werr := c.waitFlowing(time.Time{}); werr != nil {
		return 0, werr
	}
	return n, err
}

func (c *faultConn) Write(b []byte) (int, error) {
	if _, d, _ := c.n.fault(c.addr); d > 0 {
		select {
		case <-time.After(d):
		case <-c.closed:
			return 0, net.ErrClosed
		}
	}
	c.dmu.Lock()
	deadline := c.writeDeadline
	c.dmu.Unlock()
	if err := c.waitFlowing(deadline); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

func (c *faultConn) SetDeadline(t time.Time) error {
	c.setWriteDeadline(t)
	return c.Conn.SetDeadline(t)
}

func (c *faultConn) SetWriteDeadline(t time.Time) error {
	c.setWriteDeadline(t)
	return c.Conn.SetWriteDeadline(t)
}

func (c *faultConn) setWriteDeadline(t time.Time) {
	c.dmu.Lock()
	c.writeDeadline = t
	c.dmu.Unlock()
}

func (c *faultConn) Close() error {
	c.once.Do(func() {
		close(c.closed)
		c.n.forget(c)
	})
	return c.Conn.Close()
}
