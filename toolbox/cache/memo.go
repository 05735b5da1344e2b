package cache

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gozmp/zmp/core"
)

// Memo memoizes services: identical calls within a TTL are answered
// from a cache instead of running the service again. It works on
// either side of a call, as an interceptor:
//
//   - Server wraps a provider's handlers (core.WithServerInterceptors,
//     or core.Intercept for one service): every caller shares the cache.
//   - Client wraps a caller's calls (core.WithCallInterceptors): a hit
//     never leaves the process.
//
// Concurrent misses of one key run the service once (they are
// collapsed); a caller that gives up never fails the others, and the
// service's call is cancelled only when the last caller has left.
// Replies are kept by key: by default the service and the body
// (DefaultKey). Remote errors are not kept unless MemoErrors says so.
//
// The metadata key core.MetaCacheControl steers it per call: a request
// with "no-store" bypasses the memo, "no-cache" skips the lookup but
// keeps the fresh reply, "max-age=N" accepts a reply at most N seconds
// old. A reply (the provider's Request.ReplyMeta) with "no-store" or
// "max-age=0" is not kept, and "max-age=N" shortens its TTL.
//
// Invalidate, InvalidatePrefix and InvalidateAll drop replies, and so
// do invalidations published on the memo's topic once it is attached
// to a peer (Attach, PublishInvalidation). An invalidation is ordered
// against the fills running when it arrives: their replies are
// returned to the callers waiting for them but never kept.
type Memo struct {
	cfg   memoConfig
	cache *Cache[*reply]
	group group[*reply]

	hits, misses, bypassed, refreshes, fillErrors atomic.Uint64
	invalidations                                 atomic.Uint64
	closedFlag                                    atomic.Bool

	mu        sync.Mutex
	closed    bool
	detach    []func() // undo Attach
	listeners []*Listener
	ctx       context.Context // ends at Close: background refreshes
	cancel    context.CancelFunc
}

// reply is a cached answer: a body with its metadata, or a remote error.
type reply struct {
	body []byte
	meta core.Metadata
	err  *core.RemoteError
}

func (r *reply) size() int {
	n := len(r.body)
	for k, v := range r.meta {
		n += len(k) + len(v)
	}
	if r.err != nil {
		n += len(r.err.Message)
	}
	return n
}

// NewMemo makes a memo. See the Memo options for the defaults.
func NewMemo(opts ...MemoOption) (*Memo, error) {
	cfg := defaultMemoConfig()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	copts := []Option{WithMaxEntries(cfg.maxEntries), WithMaxBytes(cfg.maxBytes), WithPolicy(cfg.policy),
		WithSizer(func(r *reply) int { return r.size() })}
	if f := cfg.onEvict; f != nil {
		copts = append(copts, WithOnEvict(func(k string, _ *reply, why Reason) { f(k, why) }))
	}
	c, err := New[*reply](copts...)
	if err != nil {
		return nil, err
	}
	m := &Memo{cfg: cfg, cache: c}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	return m, nil
}

// Server returns the interceptor that memoizes the services of a
// provider. A hit's reply is the cached body itself: core only reads it.
func (m *Memo) Server() core.ServerInterceptor {
	return func(ctx context.Context, req *core.Request, next core.Handler) ([]byte, error) {
		if !m.applies(req.Service) {
			return next.ServeRPC(ctx, req)
		}
		key := KeyInfo{Service: req.Service, Body: req.Body, Meta: req.Meta, User: req.User}
		r, err := serve(m, ctx, key, serverFill{m, req, next})
		if err != nil {
			return nil, err
		}
		if r.meta != nil {
			req.ReplyMeta = r.meta.Clone()
		}
		return r.body, nil
	}
}

// serverFill runs the handler for a memo on the server side.
type serverFill struct {
	m    *Memo
	req  *core.Request
	next core.Handler
}

func (f serverFill) fill(ctx context.Context) (*reply, error) {
	r := *f.req // the handler may run after this caller has left
	body, err := f.next.ServeRPC(ctx, &r)
	return f.m.replyOf(body, r.ReplyMeta, err)
}

// Client returns the interceptor that memoizes the calls a peer makes.
// A hit's reply is a copy, the caller's to keep, as Call's is.
func (m *Memo) Client() core.CallInterceptor {
	return func(ctx context.Context, call *core.CallInfo, next core.Invoker) ([]byte, error) {
		if !m.applies(call.Service) {
			return next(ctx, call)
		}
		key := KeyInfo{Service: call.Service, Body: call.Body, Meta: call.Meta}
		r, err := serve(m, ctx, key, clientFill{m, call, next})
		if err != nil {
			return nil, err
		}
		if r.meta != nil && call.Meta != nil {
			call.ReplyMeta = r.meta.Clone()
		}
		return append([]byte(nil), r.body...), nil
	}
}

// clientFill sends the call for a memo on the calling side.
type clientFill struct {
	m    *Memo
	call *core.CallInfo
	next core.Invoker
}

func (f clientFill) fill(ctx context.Context) (*reply, error) {
	c := *f.call
	if c.Meta == nil {
		c.Meta = core.Metadata{} // so that the provider sends its reply's
	}
	body, err := f.next(ctx, &c)
	return f.m.replyOf(body, c.ReplyMeta, err)
}

// applies reports whether the memo keeps service's replies: never
// zmp's introspection services (zmp.*), which describe the moment.
func (m *Memo) applies(service string) bool {
	if strings.HasPrefix(service, "zmp.") {
		return false
	}
	return m.cfg.services == nil || m.cfg.services[service]
}

// notCached is a fill's error that is the caller's answer, not cached.
type notCached struct{ err error }

func (e notCached) Error() string { return e.err.Error() }
func (e notCached) Unwrap() error { return e.err }

// replyOf turns a service's answer into a reply to cache, or an error
// that is not cached.
func (m *Memo) replyOf(body []byte, meta core.Metadata, err error) (*reply, error) {
	if err == nil {
		return &reply{body: body, meta: meta}, nil
	}
	var re *core.RemoteError
	if errors.As(err, &re) && m.cfg.errCodes[re.Code] {
		cp := *re
		return &reply{err: &cp, meta: meta}, nil
	}
	return nil, notCached{err}
}

// Close detaches the memo from its peers, cancels the fills running
// and waits for them, and stops the cache. Calls through its
// interceptors afterwards go straight to the service. Close is
// idempotent.
func (m *Memo) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.closedFlag.Store(true)
	detach := m.detach
	m.detach = nil
	m.mu.Unlock()
	for _, f := range detach {
		f()
	}
	m.cancel()
	m.group.cancelAll()
	return m.cache.Close()
}

func (m *Memo) String() string { return fmt.Sprintf("memo %s", m.cfg.name) }
