package sock

import (
	"context"
	"sync"
)

// Policy says what a full queue does with one more message.
type Policy int

const (
	// Block makes the sender wait for room (bounded by its context).
	Block Policy = iota
	// DropNewest refuses the new message and counts a drop.
	DropNewest
	// DropOldest discards the oldest queued message, counts a drop and
	// queues the new one.
	DropOldest
)

// String names the policy as the documentation does.
func (p Policy) String() string {
	switch p {
	case Block:
		return "block"
	case DropNewest:
		return "drop-newest"
	case DropOldest:
		return "drop-oldest"
	}
	return "unknown"
}

// queue is a bounded FIFO of messages drained in batches by one writer.
type queue struct {
	mu     sync.Mutex
	items  [][][]byte
	spare  [][][]byte
	limit  int
	closed bool
	wake   chan struct{} // capacity 1: the writer has work
	room   chan struct{} // closed (and replaced) when the writer takes items and someone waits
	waits  int           // senders blocked for room
}

func newQueue(limit int) *queue {
	return &queue{limit: limit, wake: make(chan struct{}, 1), room: make(chan struct{})}
}

// push adds msg under policy. It reports whether a message was dropped
// (msg itself for DropNewest, the oldest for DropOldest).
func (q *queue) push(ctx context.Context, msg [][]byte, p Policy) (dropped bool, err error) {
	q.mu.Lock()
	for len(q.items) >= q.limit && !q.closed {
		switch p {
		case DropNewest:
			q.mu.Unlock()
			return true, ErrQueueFull
		case DropOldest:
			// Re-slicing is O(1); append reallocates when the front
			// space runs out, so drops cost amortised constant time.
			q.items[0] = nil
			q.items = q.items[1:]
			dropped = true
			continue
		}
		room := q.room
		q.waits++
		q.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			q.mu.Lock()
			q.waits--
			q.mu.Unlock()
			return false, ctx.Err()
		}
		q.mu.Lock()
		q.waits--
	}
	if q.closed {
		q.mu.Unlock()
		return false, ErrClosed
	}
	q.items = append(q.items, msg)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return dropped, nil
}

// take returns every queued message; the writer hands the slice back
// with recycle when done so steady state allocates nothing.
func (q *queue) take() [][][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	batch := q.items
	q.items = q.spare[:0]
	q.spare = nil
	if len(batch) > 0 && q.waits > 0 {
		close(q.room)
		q.room = make(chan struct{})
	}
	return batch
}

func (q *queue) recycle(batch [][][]byte) {
	clear(batch)
	q.mu.Lock()
	if q.spare == nil {
		q.spare = batch[:0]
	}
	q.mu.Unlock()
}

func (q *queue) full() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) >= q.limit
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.room)
		q.room = make(chan struct{})
	}
}
