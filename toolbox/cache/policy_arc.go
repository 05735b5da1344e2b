package cache

import "github.com/hashicorp/golang-lru/v2/simplelru"

// arc is golang-lru's ARCCache: t1 holds keys used once, t2 keys used
// again, b1 and b2 the ghosts of keys evicted from each. A miss on a
// ghost in b1 grows p, the share t1 may hold; a miss in b2 shrinks it.
type arc[V any] struct {
	t1, t2 *simplelru.LRU[string, *entry[V]]
	b1, b2 *simplelru.LRU[string, struct{}]
	size   int // the cache's entry bound
	p      int // target length of t1
	ghost  int // where the key being admitted was: 0 nowhere, 1 b1, 2 b2
}

func newARC[V any](n int) *arc[V] {
	a := &arc[V]{
		t1: mustLRU[string, *entry[V]](unbounded),
		t2: mustLRU[string, *entry[V]](unbounded),
		b1: mustLRU[string, struct{}](1),
		b2: mustLRU[string, struct{}](1),
	}
	a.setCap(n)
	return a
}

func (a *arc[V]) setCap(n int) {
	a.size = max(n, 1)
	a.p = min(a.p, a.size)
	a.b1.Resize(a.size)
	a.b2.Resize(a.size)
}

func (a *arc[V]) get(key string) (*entry[V], bool) {
	if e, ok := a.t1.Peek(key); ok {
		a.t1.Remove(key)
		a.t2.Add(key, e)
		return e, true
	}
	return a.t2.Get(key)
}

func (a *arc[V]) touch(e *entry[V]) { a.get(e.key) }

// victim evicts from t1 while it is above its target, else from t2,
// and remembers the key in the matching ghost list. Before the first
// victim for a key, admit has moved p.
func (a *arc[V]) victim(string) (*entry[V], bool) {
	n := a.t1.Len()
	if n > 0 && (n > a.p || (n == a.p && a.ghost == 2)) {
		k, e, _ := a.t1.RemoveOldest()
		a.b1.Add(k, struct{}{})
		return e, true
	}
	if k, e, ok := a.t2.RemoveOldest(); ok {
		a.b2.Add(k, struct{}{})
		return e, true
	}
	// t2 is empty and t1 within its target: golang-lru's t1 list drops
	// its oldest on its own, leaving no ghost.
	_, e, ok := a.t1.RemoveOldest()
	return e, ok
}

// adapt moves p for a key about to be inserted: towards recency when
// the key is a ghost of t1, towards frequency when it is one of t2.
func (a *arc[V]) admit(key string) {
	b1, b2 := a.b1.Len(), a.b2.Len()
	a.ghost = 0
	switch {
	case a.b1.Contains(key):
		a.ghost = 1
		d := 1
		if b2 > b1 {
			d = b2 / b1
		}
		a.p = min(a.p+d, a.size)
	case a.b2.Contains(key):
		a.ghost = 2
		d := 1
		if b1 > b2 {
			d = b1 / b2
		}
		a.p = max(a.p-d, 0)
	}
}

func (a *arc[V]) insert(e *entry[V]) {
	g := a.ghost
	a.ghost = 0
	switch g {
	case 1:
		a.b1.Remove(e.key)
		a.t2.Add(e.key, e)
	case 2:
		a.b2.Remove(e.key)
		a.t2.Add(e.key, e)
	default:
		if a.b1.Len() > a.size-a.p {
			a.b1.RemoveOldest()
		}
		if a.b2.Len() > a.p {
			a.b2.RemoveOldest()
		}
		a.t1.Add(e.key, e)
	}
}

func (a *arc[V]) remove(key string) {
	a.t1.Remove(key)
	a.t2.Remove(key)
	a.b1.Remove(key)
	a.b2.Remove(key)
}
