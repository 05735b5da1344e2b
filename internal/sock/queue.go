package sock

import (
	"context"
	"sync"
	"sync/atomic"
)

// Policy says what a full queue does with one more message.
type Policy int

const (
	// Block makes the sender wait for room (bounded by its context).
	Block Policy = iota
	// DropNewest refuses the new message and counts a drop.
	DropNewest
	// DropOldest discards the oldest queued messages, counts them, and
	// queues the new one.
	DropOldest
	// Force queues the message whatever the bounds, never waiting or
	// dropping: for senders that bound what they queue by other means
	// (an RPC server queues one reply per request it admitted, and
	// admits no more while the queue is over its bounds).
	Force
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
	case Force:
		return "force"
	}
	return "unknown"
}

// queue is a FIFO of messages drained in batches by one writer, bounded
// by a count and by bytes. A message always fits into an empty queue,
// so the byte bound is exceeded by at most one message.
type queue struct {
	mu        sync.Mutex
	items     [][][]byte
	spare     [][][]byte
	bytes     int64 // of the queued messages' frames
	limit     int
	byteLimit int64 // 0: no byte bound
	closed    bool
	roomWish  bool          // someone saw the queue over its bounds and wants to hear of room
	wake      chan struct{} // capacity 1: the writer has work
	room      chan struct{} // closed (and replaced) when the writer takes items and someone waits
	waits     int           // senders blocked for room

	// Mirrors of the state under mu, for checks that need no lock.
	count    atomic.Int64 // len(items)
	bytesNow atomic.Int64 // bytes
	overNow  atomic.Bool  // overLocked()
}

func newQueue(limit int, byteLimit int64) *queue {
	return &queue{limit: limit, byteLimit: byteLimit, wake: make(chan struct{}, 1), room: make(chan struct{})}
}

// msgSize is what a message counts against a byte bound.
func msgSize(msg [][]byte) int64 {
	var n int64
	for _, f := range msg {
		n += int64(len(f))
	}
	return n
}

// fitsLocked reports whether a message of size bytes may be queued now.
func (q *queue) fitsLocked(size int64) bool {
	if len(q.items) == 0 {
		return true
	}
	return len(q.items) < q.limit && (q.byteLimit <= 0 || q.bytes+size <= q.byteLimit)
}

// overLocked reports whether the queue is at or over one of its bounds.
func (q *queue) overLocked() bool {
	return len(q.items) >= q.limit || (q.byteLimit > 0 && q.bytes >= q.byteLimit)
}

// changedLocked updates the mirrors after items or bytes changed.
func (q *queue) changedLocked() {
	q.count.Store(int64(len(q.items)))
	q.bytesNow.Store(q.bytes)
	q.overNow.Store(q.overLocked())
}

// push adds msg under policy. It reports how many messages were
// dropped (msg itself for DropNewest, the oldest for DropOldest).
func (q *queue) push(ctx context.Context, msg [][]byte, p Policy) (dropped int, err error) {
	size := msgSize(msg)
	q.mu.Lock()
	for !q.closed && p != Force && !q.fitsLocked(size) {
		switch p {
		case DropNewest:
			q.mu.Unlock()
			return 1, ErrQueueFull
		case DropOldest:
			q.dropOldestLocked()
			dropped++
			continue
		}
		if err := q.waitLocked(ctx); err != nil {
			q.mu.Unlock()
			return 0, err
		}
	}
	if q.closed {
		q.mu.Unlock()
		return dropped, ErrClosed
	}
	q.items = append(q.items, msg)
	q.bytes += size
	q.changedLocked()
	q.mu.Unlock()
	q.poke()
	return dropped, nil
}

// dropOldestLocked discards the oldest message. Re-slicing is O(1);
// append reallocates when the front space runs out, so drops cost
// amortised constant time.
func (q *queue) dropOldestLocked() {
	q.bytes -= msgSize(q.items[0])
	q.items[0] = nil
	q.items = q.items[1:]
	q.changedLocked()
}

// poke wakes the writer with nothing queued: a direct write left bytes
// for it to finish.
func (q *queue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// waitLocked waits, with mu released, until the writer takes messages,
// the queue closes or ctx ends.
func (q *queue) waitLocked(ctx context.Context) error {
	room := q.room
	q.waits++
	q.mu.Unlock()
	var err error
	select {
	case <-room:
	case <-ctx.Done():
		err = ctx.Err()
	}
	q.mu.Lock()
	q.waits--
	return err
}

// waitRoom returns once the queue is under both of its bounds, or it
// is closed (ErrClosed), or ctx ends.
func (q *queue) waitRoom(ctx context.Context) error {
	if !q.overNow.Load() {
		return nil // the writer or a closed link ends the caller soon enough
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for !q.closed && q.overLocked() {
		if err := q.waitLocked(ctx); err != nil {
			return err
		}
	}
	if q.closed {
		return ErrClosed
	}
	return nil
}

// over reports whether the queue is at or over one of its bounds; when
// it is, the next take reports room (see take).
func (q *queue) over() bool {
	if !q.overNow.Load() {
		return false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.overLocked() {
		q.roomWish = true
		return true
	}
	return false
}

// take returns every queued message; the writer hands the slice back
// with recycle when done so steady state allocates nothing. room
// reports that over saw the queue over its bounds since the last take.
func (q *queue) take() (batch [][][]byte, room bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	batch = q.items
	q.items = q.spare[:0]
	q.spare = nil
	q.bytes = 0
	q.changedLocked()
	if len(batch) > 0 && q.waits > 0 {
		close(q.room)
		q.room = make(chan struct{})
	}
	room, q.roomWish = q.roomWish, false
	return batch, room
}

func (q *queue) recycle(batch [][][]byte) {
	clear(batch)
	q.mu.Lock()
	if q.spare == nil {
		q.spare = batch[:0]
	}
	q.mu.Unlock()
}

// full reports whether a message of size bytes would have to wait.
func (q *queue) full(size int64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return !q.fitsLocked(size)
}

// fullNow is full without the lock, for a sender that drops rather
// than waits: the answer may be stale by the time it is used (the
// writer took messages, or another sender queued some), as it may be
// with full once the lock is released.
func (q *queue) fullNow(size int64) bool {
	n := q.count.Load()
	if n == 0 {
		return false
	}
	return n >= int64(q.limit) || (q.byteLimit > 0 && q.bytesNow.Load()+size > q.byteLimit)
}

// stats returns the queued messages and bytes.
func (q *queue) stats() (n int, bytes int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items), q.bytes
}

func (q *queue) len() int { return int(q.count.Load()) }

func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.room)
		q.room = make(chan struct{})
	}
}
