package cache

import "github.com/hashicorp/golang-lru/v2/simplelru"

// The shares of golang-lru's New2Q: a quarter of the entries for keys
// seen once, ghosts of half as many keys as the cache holds.
const (
	recentShare = 0.25
	ghostShare  = 0.50
)

// twoQueue is golang-lru's TwoQueueCache: recent holds keys used once,
// frequent keys used again, ghosts the keys recently evicted from
// recent. A ghost that returns goes straight to frequent.
type twoQueue[V any] struct {
	recent, frequent *simplelru.LRU[string, *entry[V]]
	ghosts           *simplelru.LRU[string, struct{}]
	recentTarget     int
	wasGhost         bool // the key being admitted was a ghost
}

func newTwoQueue[V any](n int) *twoQueue[V] {
	q := &twoQueue[V]{
		recent:   mustLRU[string, *entry[V]](unbounded),
		frequent: mustLRU[string, *entry[V]](unbounded),
		ghosts:   mustLRU[string, struct{}](1),
	}
	q.setCap(n)
	return q
}

func (q *twoQueue[V]) setCap(n int) {
	q.recentTarget = int(float64(n) * recentShare)
	q.ghosts.Resize(max(int(float64(n)*ghostShare), 1))
}

func (q *twoQueue[V]) get(key string) (*entry[V], bool) {
	if e, ok := q.frequent.Get(key); ok {
		return e, true
	}
	if e, ok := q.recent.Peek(key); ok {
		q.recent.Remove(key)
		q.frequent.Add(key, e)
		return e, true
	}
	return nil, false
}

func (q *twoQueue[V]) touch(e *entry[V]) { q.get(e.key) }
func (q *twoQueue[V]) admit(key string)  { q.wasGhost = q.ghosts.Contains(key) }

func (q *twoQueue[V]) victim(string) (*entry[V], bool) {
	n := q.recent.Len()
	if n > 0 && (n > q.recentTarget || (n == q.recentTarget && !q.wasGhost)) {
		k, e, _ := q.recent.RemoveOldest()
		q.ghosts.Add(k, struct{}{})
		return e, true
	}
	if _, e, ok := q.frequent.RemoveOldest(); ok {
		return e, true
	}
	_, e, ok := q.recent.RemoveOldest() // recentTarget 0 and nothing frequent
	return e, ok
}

func (q *twoQueue[V]) insert(e *entry[V]) {
	if q.wasGhost {
		q.wasGhost = false
		q.ghosts.Remove(e.key)
		q.frequent.Add(e.key, e)
		return
	}
	q.recent.Add(e.key, e)
}

func (q *twoQueue[V]) remove(key string) {
	q.frequent.Remove(key)
	q.recent.Remove(key)
	q.ghosts.Remove(key)
}
