package sock

import (
	"context"
	"sync"
	"time"

	"github.com/gozmp/zmp/internal/zmtp"
)

// Backoff defaults for a Session's reconnects.
const (
	DefaultMinBackoff = 50 * time.Millisecond
	DefaultMaxBackoff = 2 * time.Second
)

// SessionConfig configures a Session.
type SessionConfig struct {
	Endpoint         string
	ZMTP             zmtp.Config
	Dial             DialFunc      // nil: net.Dialer
	HandshakeTimeout time.Duration // per dial; default DefaultHandshakeTimeout
	Link             LinkConfig
	// MinBackoff and MaxBackoff bound the wait between failed dials;
	// it doubles from min to max and resets after a link comes up.
	MinBackoff, MaxBackoff time.Duration
	// OnUp runs on the session's goroutine after each connect, before
	// the link is offered to Link callers (resubscribe here).
	OnUp func(*Link)
	// OnDown runs after a link stops, with why.
	OnDown func(*Link, error)
}

// Session keeps one dialled link to an endpoint, reconnecting with
// backoff after it fails, until Close. It replaces zmq4's automatic
// reconnect, which deadlocks (zmq4 defect 5).
type Session struct {
	cfg     SessionConfig
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	mu      sync.Mutex
	cur     *Link
	up      chan struct{} // closed while cur is set
	lastErr error
}

// StartSession starts dialling cfg.Endpoint in the background.
func StartSession(cfg SessionConfig) *Session {
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(DefaultMaxBackoff, cfg.MinBackoff)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Session{cfg: cfg, ctx: ctx, cancel: cancel, done: make(chan struct{}), up: make(chan struct{})}
	go s.run()
	return s
}

// Endpoint returns the endpoint the session dials.
func (s *Session) Endpoint() string { return s.cfg.Endpoint }

// Current returns the live link, or nil while (re)connecting.
func (s *Session) Current() *Link {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// LastError returns the most recent dial or link error.
func (s *Session) LastError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

// Link waits until a link is up or ctx ends.
func (s *Session) Link(ctx context.Context) (*Link, error) {
	for {
		s.mu.Lock()
		cur, up := s.cur, s.up
		s.mu.Unlock()
		if cur != nil {
			return cur, nil
		}
		select {
		case <-up:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.done:
			return nil, ErrClosed
		}
	}
}

// Close stops reconnecting, closes the current link and waits.
func (s *Session) Close() error {
	s.cancel()
	<-s.done
	return nil
}

func (s *Session) run() {
	defer close(s.done)
	backoff := s.cfg.MinBackoff
	for s.ctx.Err() == nil {
		c, err := DialWith(s.ctx, s.cfg.Dial, s.cfg.Endpoint, s.cfg.ZMTP, s.cfg.HandshakeTimeout)
		if err != nil {
			s.setErr(err)
			if !s.sleep(backoff) {
				return
			}
			backoff = min(2*backoff, s.cfg.MaxBackoff)
			continue
		}
		backoff = s.cfg.MinBackoff
		s.serve(StartLink(c, s.cfg.Link))
	}
}

func (s *Session) serve(l *Link) {
	if s.cfg.OnUp != nil {
		s.cfg.OnUp(l)
	}
	s.mu.Lock()
	s.cur = l
	close(s.up)
	s.mu.Unlock()
	select {
	case <-l.Done():
	case <-s.ctx.Done():
		l.Close()
	}
	s.mu.Lock()
	s.cur = nil
	s.up = make(chan struct{})
	s.lastErr = l.Err()
	s.mu.Unlock()
	if s.cfg.OnDown != nil {
		s.cfg.OnDown(l, l.Err())
	}
	if s.ctx.Err() == nil {
		s.sleep(s.cfg.MinBackoff)
	}
}

func (s *Session) setErr(err error) {
	s.mu.Lock()
	s.lastErr = err
	s.mu.Unlock()
}

func (s *Session) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.ctx.Done():
		return false
	}
}
