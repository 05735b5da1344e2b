package proxy

import (
	"container/list"
	"strings"
	"sync"
)

// lvc is a last-value cache: the latest message of each topic, at most
// limit topics, evicting the one updated least recently.
type lvc struct {
	mu     sync.Mutex
	limit  int
	topics map[string]*list.Element
	order  *list.List // of *cached, least recently updated at the front
}

type cached struct {
	topic  string
	frames [][]byte
}

func newLVC(limit int) *lvc {
	if limit <= 0 {
		return nil
	}
	return &lvc{limit: limit, topics: map[string]*list.Element{}, order: list.New()}
}

func (c *lvc) put(frames [][]byte) {
	if c == nil {
		return
	}
	topic := string(frames[0])
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.topics[topic]; ok {
		e.Value.(*cached).frames = frames
		c.order.MoveToBack(e)
		return
	}
	if c.order.Len() >= c.limit {
		oldest := c.order.Front()
		c.order.Remove(oldest)
		delete(c.topics, oldest.Value.(*cached).topic)
	}
	c.topics[topic] = c.order.PushBack(&cached{topic: topic, frames: frames})
}

// matching returns the cached messages whose topic starts with prefix,
// oldest update first.
func (c *lvc) matching(prefix string) [][][]byte {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var out [][][]byte
	for e := c.order.Front(); e != nil; e = e.Next() {
		if v := e.Value.(*cached); strings.HasPrefix(v.topic, prefix) {
			out = append(out, v.frames)
		}
	}
	return out
}

func (c *lvc) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
