package cache

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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

// filler runs the service for a memo: serverFill or clientFill. serve
// takes it by value so that a hit allocates no closure.
type filler interface {
	fill(ctx context.Context) (*reply, error)
}

// serve answers a call from the cache or by a collapsed fill.
func serve[F filler](m *Memo, ctx context.Context, ki KeyInfo, f F) (*reply, error) {
	cc := parseCacheControl(ki.Meta)
	if r, ok := m.quickHit(ki, cc); ok {
		return answer(r)
	}
	key, ok := m.cfg.key(ki)
	if !ok || cc.noStore || m.closedFlag.Load() {
		m.bypassed.Add(1)
		return m.fillDirect(ctx, f.fill)
	}
	if cc.noCache {
		m.misses.Add(1)
		r, err := m.group.doAlone(ctx, key, f.fill, m.installer(key))
		return m.result(r, err)
	}
	if it, ok := m.cache.Lookup(key); ok && cc.fresh(time.Since(it.Stored)) {
		m.hits.Add(1)
		if m.cfg.refresh > 0 && m.refreshDue(it) {
			m.refresh(ctx, key, it, f)
		}
		return answer(it.Value)
	}
	m.misses.Add(1)
	recheck := func() (*reply, bool) {
		it, ok := m.cache.Peek(key)
		return it.Value, ok && cc.fresh(time.Since(it.Stored))
	}
	r, err, _ := m.group.do(ctx, key, f.fill, m.installer(key), recheck)
	return m.result(r, err)
}

// quickHit answers a plain call (default key, no cache-control, no
// refresh-ahead) from the cache without making its key a string; a
// miss goes the long way, which counts it.
func (m *Memo) quickHit(ki KeyInfo, cc cacheControl) (*reply, bool) {
	if !m.cfg.defaultKey || m.cfg.refresh > 0 || cc != (cacheControl{maxAge: -1}) || m.closedFlag.Load() {
		return nil, false
	}
	var buf [256]byte
	kb := buf[:0]
	if n := len(ki.Service) + 1 + len(ki.Body); n > len(buf) {
		return nil, false
	}
	kb = append(append(append(kb, ki.Service...), 0), ki.Body...)
	it, ok := m.cache.hitBytes(kb)
	if !ok {
		return nil, false
	}
	m.hits.Add(1)
	return it.Value, true
}

// result is a fill's answer to its caller.
func (m *Memo) result(r *reply, err error) (*reply, error) {
	if err != nil {
		m.fillErrors.Add(1)
		var nc notCached
		if errors.As(err, &nc) {
			return nil, nc.err
		}
		return nil, err
	}
	return answer(r)
}

// fillDirect runs a fill for a call the memo leaves alone.
func (m *Memo) fillDirect(ctx context.Context, fill fillFunc[*reply]) (*reply, error) {
	r, err := fill(ctx)
	if err != nil {
		var nc notCached
		if errors.As(err, &nc) {
			return nil, nc.err
		}
		return nil, err
	}
	return answer(r)
}

func answer(r *reply) (*reply, error) {
	if r.err != nil {
		cp := *r.err
		return nil, &cp
	}
	return r, nil
}

// installer stores a fill's reply under key, with its TTL.
func (m *Memo) installer(key string) installFunc[*reply] {
	return func(r *reply, err error) func() {
		if err != nil {
			return nil
		}
		ttl, ok := m.ttlOf(r)
		if !ok {
			return nil
		}
		out, err := m.cache.setQuiet(key, r, ttl)
		if err != nil || len(out) == 0 {
			return nil
		}
		return func() { m.cache.notify(out) }
	}
}

// ttlOf is how long to keep a reply, and whether to keep it at all.
func (m *Memo) ttlOf(r *reply) (time.Duration, bool) {
	ttl := m.cfg.ttl
	if r.err != nil {
		ttl = m.cfg.errTTL
	}
	cc := parseCacheControl(r.meta)
	if cc.noStore || cc.noCache {
		return 0, false
	}
	if cc.maxAge >= 0 {
		if cc.maxAge == 0 {
			return 0, false
		}
		ttl = min(ttl, cc.maxAge)
	}
	return ttl, true
}

// refreshDue reports whether a hit is past the refresh-ahead point of
// its TTL.
func (m *Memo) refreshDue(it Item[*reply]) bool {
	if it.Expires.IsZero() || m.closedFlag.Load() {
		return false
	}
	ttl := it.Expires.Sub(it.Stored)
	return time.Since(it.Stored) >= time.Duration(float64(ttl)*m.cfg.refresh)
}

// refresh starts a background refresh of a hit, unless one of its key
// is running.
func (m *Memo) refresh(ctx context.Context, key string, it Item[*reply], f filler) {
	ttl := it.Expires.Sub(it.Stored)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ttl)
	bg := func(fctx context.Context) (*reply, error) {
		defer cancel()
		stop := context.AfterFunc(m.ctx, cancel) // Close ends refreshes
		defer stop()
		return f.fill(fctx)
	}
	if m.group.background(rctx, key, bg, m.installer(key)) {
		m.refreshes.Add(1)
	} else {
		cancel()
	}
}

// Invalidate drops the replies of keys, and keeps the fills of them
// now running from storing theirs.
func (m *Memo) Invalidate(keys ...string) {
	m.invalidations.Add(1)
	m.group.invalidate(keys, nil, false)
	for _, k := range keys {
		m.cache.Delete(k)
	}
}

// InvalidatePrefix drops the replies whose keys begin with prefix (see
// ServicePrefix), and keeps the fills of such keys from storing theirs.
func (m *Memo) InvalidatePrefix(prefix string) {
	m.invalidations.Add(1)
	m.group.invalidate(nil, []string{prefix}, false)
	m.cache.DeletePrefix(prefix)
}

// InvalidateAll drops every reply, and keeps every fill now running
// from storing its reply.
func (m *Memo) InvalidateAll() {
	m.invalidations.Add(1)
	m.group.invalidate(nil, nil, true)
	m.cache.Purge()
}

// Resize changes the memo's bounds at run time (0 keeps a bound), as a
// feedback loop may.
func (m *Memo) Resize(maxEntries int, maxBytes int64) error {
	return m.cache.Resize(maxEntries, maxBytes)
}

// MemoStats are a memo's counters.
type MemoStats struct {
	Stats
	// Hits and Misses count the memo's lookups (the embedded cache
	// stats count the cache's own, which include refresh lookups).
	MemoHits   uint64 `json:"memo_hits"`
	MemoMisses uint64 `json:"memo_misses"`
	// Collapsed counts callers that waited for a fill another caller
	// had started; Fills counts the service's runs for the memo.
	Collapsed uint64 `json:"collapsed"`
	Fills     uint64 `json:"fills"`
	// FillErrors counts fills that ended in an error not cached.
	FillErrors uint64 `json:"fill_errors"`
	// Discarded counts fills whose reply was not kept: invalidated, or
	// abandoned by every caller, while running.
	Discarded     uint64 `json:"discarded"`
	Bypassed      uint64 `json:"bypassed"` // no-store, or the key function said no
	Refreshes     uint64 `json:"refreshes"`
	Invalidations uint64 `json:"invalidations"`
}

// Stats returns the memo's counters.
func (m *Memo) Stats() MemoStats {
	s := MemoStats{Stats: m.cache.Stats(),
		MemoHits: m.hits.Load(), MemoMisses: m.misses.Load(),
		Collapsed: m.group.collapsed.Load(), Fills: m.group.fills.Load(), FillErrors: m.fillErrors.Load(),
		Discarded: m.group.discarded.Load(), Bypassed: m.bypassed.Load(), Refreshes: m.refreshes.Load(),
		Invalidations: m.invalidations.Load(),
	}
	if n := s.MemoHits + s.MemoMisses; n > 0 {
		s.HitRate = float64(s.MemoHits) / float64(n)
	}
	return s
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
