package sock

import (
	"sync"

	"github.com/gozmp/zmp/internal/zmtp"
)

// RouterConfig configures a Router.
type RouterConfig struct {
	Listen ListenConfig // Listen.ZMTP.Type is set to ROUTER and OnConn is replaced
	Link   LinkConfig   // template for each peer's link; OnMessage and OnClose are replaced
	// OnMessage receives each request with the link it came on; replies
	// are sent on that link.
	OnMessage func(peer *Link, frames [][]byte)
	// OnPeerClose, when set, runs after a peer's link has stopped, on
	// that link's goroutine.
	OnPeerClose func(peer *Link)
	// NewValue, when set, makes each peer's Link.Value, before the link
	// reads its first message.
	NewValue func() any
}

// Router accepts DEALER (or REQ) peers and hands their messages to
// OnMessage together with the peer's Link, which addresses the reply.
type Router struct {
	ln  *Listener
	cfg RouterConfig

	mu     sync.Mutex
	links  map[*Link]struct{}
	closed bool
}

// ListenRouter binds a Router on endpoint.
func ListenRouter(endpoint string, cfg RouterConfig) (*Router, error) {
	r := &Router{cfg: cfg, links: map[*Link]struct{}{}}
	cfg.Listen.ZMTP.Type = zmtp.Router
	cfg.Listen.OnConn = r.addConn
	ln, err := Listen(endpoint, cfg.Listen)
	if err != nil {
		return nil, err
	}
	r.ln = ln
	return r, nil
}

// Endpoint returns the bound endpoint.
func (r *Router) Endpoint() string { return r.ln.Endpoint() }

// Listener returns the router's listener, for its counters.
func (r *Router) Listener() *Listener { return r.ln }

// Broadcast queues frames for every connected peer, dropping it for
// peers whose queue is full. frames must not be modified afterwards.
func (r *Router) Broadcast(frames [][]byte) {
	r.mu.Lock()
	links := make([]*Link, 0, len(r.links))
	for l := range r.links {
		links = append(links, l)
	}
	r.mu.Unlock()
	for _, l := range links {
		l.TrySend(frames, DropNewest)
	}
}

// Peers returns the number of connected peers.
func (r *Router) Peers() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.links)
}

func (r *Router) addConn(c *zmtp.Conn) {
	lc := r.cfg.Link
	lc.OnMessage = r.cfg.OnMessage
	lc.OnClose = r.removeLink
	if r.cfg.NewValue != nil {
		lc.Value = r.cfg.NewValue()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		c.Close()
		return
	}
	r.links[StartLink(c, lc)] = struct{}{}
}

func (r *Router) removeLink(l *Link, _ error) {
	r.mu.Lock()
	delete(r.links, l)
	r.mu.Unlock()
	if r.cfg.OnPeerClose != nil {
		r.cfg.OnPeerClose(l)
	}
}

// Close stops accepting, closes every peer link and waits for all of
// the router's goroutines.
func (r *Router) Close() error {
	err := r.ln.Close()
	r.mu.Lock()
	r.closed = true
	links := make([]*Link, 0, len(r.links))
	for l := range r.links {
		links = append(links, l)
	}
	r.mu.Unlock()
	for _, l := range links {
		l.Close()
	}
	return err
}
