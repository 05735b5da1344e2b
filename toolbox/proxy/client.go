package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/gozmp/zmp/internal/sock"
	"github.com/gozmp/zmp/internal/zmtp"
)

// reqClient runs one request at a time on a DEALER session, in the
// manner of the Lazy Pirate client: when a request times out the
// connection is dropped and redialled, so that a late reply can never
// be taken for the answer to the next request.
type reqClient struct {
	cfg      config
	endpoint string
	sec      zmtp.Security

	mu      sync.Mutex // one request at a time; guards sess and closed
	sess    *sock.Session
	replies chan [][]byte
	closed  bool
}

func newReqClient(endpoint string, opts []Option) (*reqClient, error) {
	cfg, err := buildConfig(kindClient, opts)
	if err != nil {
		return nil, err
	}
	endpoint, sec, err := dialSecurity(cfg.sec.front, endpoint)
	if err != nil {
		return nil, err
	}
	if _, err := sock.ParseEndpoint(endpoint); err != nil {
		return nil, err
	}
	c := &reqClient{cfg: cfg, endpoint: endpoint, sec: sec, replies: make(chan [][]byte, 4)}
	c.start()
	return c, nil
}

func (c *reqClient) start() {
	c.sess = sock.StartSession(sock.SessionConfig{
		Endpoint:         c.endpoint,
		ZMTP:             zmtp.Config{Type: zmtp.Dealer, MaxMessageSize: c.cfg.maxMessageSize, Security: c.sec},
		HandshakeTimeout: c.cfg.handshakeTimeout,
		MinBackoff:       c.cfg.minReconnect,
		MaxBackoff:       c.cfg.maxReconnect,
		Link: sock.LinkConfig{OnMessage: func(_ *sock.Link, f [][]byte) {
			select {
			case c.replies <- f:
			default: // nobody asked for it
			}
		}},
	})
}

// roundTrip sends msg and returns the body of the first message that
// match accepts.
func (c *reqClient) roundTrip(ctx context.Context, msg [][]byte, match func([][]byte) ([][]byte, bool)) ([][]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	l, err := c.sess.Link(ctx)
	if err != nil {
		if last := c.sess.LastError(); last != nil && ctx.Err() != nil {
			// Say why there is no connection, such as a refused handshake.
			return nil, fmt.Errorf("%w (not connected: %v)", err, last)
		}
		return nil, err
	}
	c.drain()
	if err := l.Send(ctx, msg); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %v", ErrConnectionLost, err)
	}
	for {
		select {
		case f := <-c.replies:
			if body, ok := match(f); ok {
				return body, nil
			}
		case <-l.Done():
			select {
			case f := <-c.replies:
				if body, ok := match(f); ok {
					return body, nil
				}
			default:
			}
			return nil, ErrConnectionLost
		case <-ctx.Done():
			c.sess.Close()
			c.start()
			return nil, ctx.Err()
		}
	}
}

func (c *reqClient) drain() {
	for {
		select {
		case <-c.replies:
		default:
			return
		}
	}
}

func (c *reqClient) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		c.sess.Close()
	}
	return nil
}

// QueueClient sends requests to a Queue as a REQ socket would, one at
// a time.
type QueueClient struct{ c *reqClient }

// NewQueueClient starts connecting to the Queue's frontend at endpoint
// ("?key=Z85" appended for a CURVE queue). Options: WithReconnect,
// WithMaxMessageSize, WithHandshakeTimeout, WithSecurity. A request
// that times out because the client could not connect (refused by the
// queue's Authenticator, for one) says why in its error, which still
// matches the context's error with errors.Is.
func NewQueueClient(endpoint string, opts ...Option) (*QueueClient, error) {
	c, err := newReqClient(endpoint, opts)
	if err != nil {
		return nil, err
	}
	return &QueueClient{c}, nil
}

// Request sends body and waits for the reply's body. When ctx ends
// first the connection is reset and ctx's error returned; the request
// may still run. Requests from one QueueClient are serialised.
func (q *QueueClient) Request(ctx context.Context, body ...[]byte) ([][]byte, error) {
	msg := append([][]byte{{}}, body...)
	return q.c.roundTrip(ctx, msg, func(f [][]byte) ([][]byte, bool) {
		if len(f) < 1 || len(f[0]) != 0 {
			return nil, false
		}
		return f[1:], true
	})
}

// Close closes the connection. It is idempotent.
func (q *QueueClient) Close() error { return q.c.close() }

// BrokerClient sends Majordomo requests to a Broker, one at a time.
type BrokerClient struct{ c *reqClient }

// NewBrokerClient starts connecting to the Broker at endpoint. Options
// as for NewQueueClient.
func NewBrokerClient(endpoint string, opts ...Option) (*BrokerClient, error) {
	c, err := newReqClient(endpoint, opts)
	if err != nil {
		return nil, err
	}
	return &BrokerClient{c}, nil
}

// Request sends body to service and waits for the reply's body, under
// the same rules as QueueClient.Request.
func (b *BrokerClient) Request(ctx context.Context, service string, body ...[]byte) ([][]byte, error) {
	if !validService([]byte(service)) {
		return nil, fmt.Errorf("%w: %q", ErrBadService, service)
	}
	return b.c.roundTrip(ctx, mdpClientFrames(service, body), func(f [][]byte) ([][]byte, bool) {
		m, ok := parseMDP(f)
		if !ok || !m.client || m.service != service {
			return nil, false
		}
		return m.body, true
	})
}

// errMMI reports an MMI answer that is neither 200 nor 404.
var errMMI = errors.New("proxy: unexpected mmi.service answer")

// Available asks the broker whether service has at least one worker
// (the "mmi.service" request).
func (b *BrokerClient) Available(ctx context.Context, service string) (bool, error) {
	reply, err := b.Request(ctx, "mmi.service", []byte(service))
	if err != nil {
		return false, err
	}
	switch {
	case len(reply) == 1 && bytes.Equal(reply[0], mmiFound):
		return true, nil
	case len(reply) == 1 && bytes.Equal(reply[0], mmiNotFound):
		return false, nil
	}
	return false, fmt.Errorf("%w: %q", errMMI, reply)
}

// Close closes the connection. It is idempotent.
func (b *BrokerClient) Close() error { return b.c.close() }
