package cache

import "github.com/gozmp/zmp/core"

// Attach connects the memo to a peer: its statistics join the peer's
// zmp.stats as "cache.memo.<name>" (zmptool info shows them), and
// unless MemoInvalidations("") it listens for invalidations on its
// topic. A memo may be attached to several peers; Close detaches it.
func (m *Memo) Attach(p *core.Peer) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	remove, err := p.AddStats("cache.memo."+m.cfg.name, func() any { return m.Stats() })
	if err != nil {
		return err
	}
	m.detach = append(m.detach, remove)
	if m.cfg.topic == "" {
		return nil
	}
	l, err := Listen(p, m.cfg.topic, m)
	if err != nil {
		remove()
		m.detach = m.detach[:len(m.detach)-1]
		return err
	}
	m.listeners = append(m.listeners, l)
	m.detach = append(m.detach, func() { l.Close() })
	return nil
}

// Listeners returns the invalidation listeners Attach started, for
// their statistics and WaitConnected.
func (m *Memo) Listeners() []*Listener {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*Listener(nil), m.listeners...)
}
