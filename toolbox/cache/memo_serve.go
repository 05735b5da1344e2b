package cache

import (
	"context"
	"errors"
	"time"
)

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
