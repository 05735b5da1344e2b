package feedback

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gozmp/zmp/core"
)

// ErrInvalidInterceptOption is returned, wrapped with the detail, by
// NewServerLimiter and NewCallLimiter for an unusable option value.
var ErrInvalidInterceptOption = errors.New("feedback: invalid interceptor option")

func interceptErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidInterceptOption}, args...)...)
}

// ServerLimiter puts a Limiter in front of a provider's handlers, as a
// server interceptor (Interceptor): a request is admitted while fewer
// than the limiter's Limit() are in flight, and shed at once beyond,
// with a core.NewError(core.CodeOverloaded, ...) that callers see as
// core.ErrOverloaded. It never queues.
//
// The interceptor runs in one of the peer's handlers, after the
// request has waited for a free one in the peer's bounded queue
// (core.WithConcurrency, or the service's own pool,
// core.Peer.SetServiceLimits). Each admitted request's time is
// measured from when the node read it (core.Request.Received), so the
// limiter sees that wait too and lowers the limit when requests queue;
// but it cannot shed a request before a handler picks it up. So give
// the peer more handlers than the limit will reach, so that requests
// reach the limiter at once and the excess is shed rather than queued.
//
// Each admitted request's time is given to the limiter's OnSample, as
// dropped when the handler answered overloaded or ran out of time (a
// ServerLimiter in front of another limiter, or a handler that waits
// on a saturated resource with the caller's deadline).
//
// Requests may be classified into partitions with guaranteed shares
// of the limit (WithPartitions), so that, say, batch traffic is shed
// before interactive traffic.
//
// One ServerLimiter is one limit. Given to core.WithServerInterceptors
// it limits all the peer's services together; to limit a service
// alone, make a ServerLimiter for it and wrap only its handler:
// p.Handle(name, core.Intercept(h, sl.Interceptor())).
//
// A ServerLimiter is safe for concurrent use, starts no goroutines and
// needs no Close. It calls the Limiter's Limit under its own mutex and
// OnSample outside it.
type ServerLimiter struct {
	lim      Limiter
	classify func(*core.Request) string

	mu       sync.Mutex
	parts    []*partition
	index    map[string]int // partition name → index in parts
	inflight int
	dropped  uint64 // samples reported dropped
	panics   uint64 // handlers that panicked while admitted
}

// serverConfig is what ServerLimiterOptions set.
type serverConfig struct {
	parts    []Partition
	key      string
	classify func(*core.Request) string
}

// ServerLimiterOption configures NewServerLimiter.
type ServerLimiterOption func(*serverConfig) error

// WithPartitions divides the limit among classes of requests, given
// most important first; each keeps its share (see Partition) and may
// borrow the unused share of those after it. A request whose class
// names no partition belongs to the last, least important, one, so a
// caller cannot gain priority by leaving its class out. Default: one
// partition with all the limit. Given twice, the second list replaces
// the first.
func WithPartitions(parts ...Partition) ServerLimiterOption {
	return func(c *serverConfig) error {
		if err := checkPartitions(parts); err != nil {
			return err
		}
		c.parts = append([]Partition(nil), parts...)
		return nil
	}
}

// WithPriorityKey sets the metadata key whose value classes a request
// into a partition. Default: core.MetaPriority ("priority"). It cannot
// be combined with WithClassifier.
func WithPriorityKey(key string) ServerLimiterOption {
	return func(c *serverConfig) error {
		if err := (core.Metadata{key: ""}).Validate(); err != nil {
			return interceptErr("priority key %q: %v", key, err)
		}
		if c.classify != nil {
			return interceptErr("WithPriorityKey and WithClassifier both given")
		}
		c.key = key
		return nil
	}
}

// WithClassifier classes requests with f instead of a metadata key;
// f must be quick and safe for concurrent use, and must not keep req.
// Default: the value of the request's core.MetaPriority metadata. It
// cannot be combined with WithPriorityKey.
func WithClassifier(f func(req *core.Request) string) ServerLimiterOption {
	return func(c *serverConfig) error {
		if f == nil {
			return interceptErr("nil classifier")
		}
		if c.key != "" {
			return interceptErr("WithPriorityKey and WithClassifier both given")
		}
		c.classify = f
		return nil
	}
}

// NewServerLimiter returns a ServerLimiter admitting requests within
// l's limit.
func NewServerLimiter(l Limiter, opts ...ServerLimiterOption) (*ServerLimiter, error) {
	if l == nil {
		return nil, interceptErr("nil Limiter")
	}
	c := serverConfig{parts: []Partition{{Name: "", Share: 1}}}
	for _, o := range opts {
		if o == nil {
			return nil, interceptErr("nil ServerLimiterOption")
		}
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	s := &ServerLimiter{lim: l, classify: c.classify, index: make(map[string]int, len(c.parts))}
	if s.classify == nil {
		key := c.key
		if key == "" {
			key = core.MetaPriority
		}
		s.classify = func(r *core.Request) string { return r.Meta.Get(key) }
	}
	for i, p := range c.parts {
		s.parts = append(s.parts, &partition{Partition: p})
		s.index[p.Name] = i
	}
	return s, nil
}

// Interceptor returns the server interceptor that applies the limit.
func (s *ServerLimiter) Interceptor() core.ServerInterceptor {
	return s.intercept
}

func (s *ServerLimiter) intercept(ctx context.Context, req *core.Request, next core.Handler) (body []byte, err error) {
	i := s.classOf(req)
	inflight, limit, ok := s.acquire(i)
	if !ok {
		return nil, core.NewError(core.CodeOverloaded, "feedback: concurrency limit %d reached (class %q)", limit, s.parts[i].Name)
	}
	returned := false
	defer func() {
		if !returned { // the handler panicked: free the slot, let core answer
			s.release(i, true)
		}
	}()
	start := req.Received
	if start.IsZero() { // a Request made by hand, not by a node
		start = time.Now()
	}
	body, err = next.ServeRPC(ctx, req)
	rtt := time.Since(start)
	returned = true
	s.release(i, false)
	if sample, dropped := classifyOutcome(ctx, err, start, req.Deadline); sample {
		if dropped {
			s.countDropped()
		}
		s.lim.OnSample(rtt, inflight, dropped)
	}
	return body, err
}

// classOf returns the index of req's partition.
func (s *ServerLimiter) classOf(req *core.Request) int {
	if len(s.parts) == 1 {
		return 0
	}
	if i, ok := s.index[s.classify(req)]; ok {
		return i
	}
	return len(s.parts) - 1
}

// acquire admits a request of partition i if the limit allows, and
// returns the number then in flight, itself included, and the limit.
func (s *ServerLimiter) acquire(i int) (inflight, limit int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	limit = s.lim.Limit()
	p := s.parts[i]
	if !admitLocked(s.parts, i, s.inflight, limit) {
		p.shed++
		return 0, limit, false
	}
	p.admitted++
	p.inflight++
	s.inflight++
	return s.inflight, limit, true
}

func (s *ServerLimiter) release(i int, panicked bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.parts[i].inflight--
	s.inflight--
	if panicked {
		s.panics++
	}
}

func (s *ServerLimiter) countDropped() {
	s.mu.Lock()
	s.dropped++
	s.mu.Unlock()
}

// classifyOutcome says whether a request admitted at start that
// ended with err is a sample for the limiter, and whether a dropped
// one: the service behind was overloaded or the request ran out of
// time. A request whose caller left early (its context cancelled) is
// no sample: its time says nothing of the service. But a caller whose
// deadline passes cancels its call a little before the provider's copy
// of the deadline does, so a request cancelled in the last tenth of the
// time it had from admission to its deadline counts as timed out.
func classifyOutcome(ctx context.Context, err error, start, deadline time.Time) (sample, dropped bool) {
	switch {
	case err == nil:
		return true, false
	case errors.Is(err, core.ErrOverloaded), errors.Is(err, core.ErrTimeout),
		errors.Is(err, context.DeadlineExceeded), ctx.Err() == context.DeadlineExceeded:
		return true, true
	case ctx.Err() != nil && !deadline.IsZero():
		late := !time.Now().Before(start.Add(deadline.Sub(start) * 9 / 10))
		return late, late
	case ctx.Err() != nil, errors.Is(err, context.Canceled):
		return false, false
	}
	return true, false // the service answered, with an error of its own
}
