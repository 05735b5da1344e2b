package sock

import (
	"context"
	"errors"
	"testing"
	"time"
)

func msg(s string) [][]byte { return [][]byte{[]byte(s)} }

func queued(q *queue) []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var s []string
	for _, m := range q.items {
		s = append(s, string(m[0]))
	}
	return s
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func fill(t *testing.T, q *queue, names ...string) {
	t.Helper()
	for _, n := range names {
		if dropped, err := q.push(context.Background(), msg(n), Block); err != nil || dropped > 0 {
			t.Fatalf("push %s: %v, %v", n, dropped, err)
		}
	}
}

func TestQueueDropNewest(t *testing.T) {
	q := newQueue(3, 0)
	fill(t, q, "a", "b", "c")
	dropped, err := q.push(context.Background(), msg("d"), DropNewest)
	if dropped != 1 || !errors.Is(err, ErrQueueFull) {
		t.Fatalf("push into full queue = %v, %v; want dropped, ErrQueueFull", dropped, err)
	}
	if got := queued(q); !equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("queue %v", got)
	}
	// With room again, DropNewest queues normally.
	if b := takeBatch(q); len(b) != 3 {
		t.Fatalf("took %d", len(b))
	}
	if dropped, err := q.push(context.Background(), msg("e"), DropNewest); dropped > 0 || err != nil {
		t.Fatalf("push with room = %v, %v", dropped, err)
	}
	if got := queued(q); !equal(got, []string{"e"}) {
		t.Fatalf("queue %v", got)
	}
}

func TestQueueDropOldest(t *testing.T) {
	q := newQueue(3, 0)
	fill(t, q, "a", "b", "c")
	for _, n := range []string{"d", "e"} {
		dropped, err := q.push(context.Background(), msg(n), DropOldest)
		if dropped != 1 || err != nil {
			t.Fatalf("push %s into full queue = %v, %v; want dropped, nil", n, dropped, err)
		}
	}
	if got := queued(q); !equal(got, []string{"c", "d", "e"}) {
		t.Fatalf("queue %v, want [c d e]", got)
	}
	if q.len() != 3 {
		t.Fatalf("len %d", q.len())
	}
	// Order is kept through take.
	b := takeBatch(q)
	if len(b) != 3 || string(b[0][0]) != "c" || string(b[2][0]) != "e" {
		t.Fatalf("take %q", b)
	}
	q.recycle(b)
	if dropped, err := q.push(context.Background(), msg("f"), DropOldest); dropped > 0 || err != nil {
		t.Fatalf("push with room = %v, %v", dropped, err)
	}
}

func TestQueueLimitOne(t *testing.T) {
	q := newQueue(1, 0)
	fill(t, q, "a")
	if dropped, err := q.push(context.Background(), msg("b"), DropOldest); dropped != 1 || err != nil {
		t.Fatalf("%v %v", dropped, err)
	}
	if got := queued(q); !equal(got, []string{"b"}) {
		t.Fatalf("queue %v", got)
	}
}

func TestQueueBlock(t *testing.T) {
	q := newQueue(2, 0)
	fill(t, q, "a", "b")

	// Block honours the context.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := q.push(ctx, msg("c"), Block); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("blocked push = %v, want DeadlineExceeded", err)
	}

	// Block waits until the writer takes items.
	done := make(chan error, 1)
	go func() {
		_, err := q.push(context.Background(), msg("c"), Block)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("push into full queue returned %v without waiting", err)
	default:
	}
	<-q.wake // the earlier pushes signalled the writer
	if b := takeBatch(q); len(b) != 2 {
		t.Fatalf("took %d", len(b))
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("blocked push did not resume after take")
	}
	if got := queued(q); !equal(got, []string{"c"}) {
		t.Fatalf("queue %v", got)
	}
}

func TestQueueClose(t *testing.T) {
	q := newQueue(1, 0)
	fill(t, q, "a")
	done := make(chan error, 1)
	go func() {
		_, err := q.push(context.Background(), msg("b"), Block)
		done <- err
	}()
	q.close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("blocked push after close = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("close did not release a blocked push")
	}
	for _, p := range []Policy{Block, DropNewest, DropOldest} {
		if _, err := q.push(context.Background(), msg("c"), p); !errors.Is(err, ErrClosed) {
			t.Fatalf("%v push after close = %v", p, err)
		}
	}
	q.close() // idempotent
}

func TestQueueRecycle(t *testing.T) {
	q := newQueue(10, 0)
	fill(t, q, "a", "b")
	b := takeBatch(q)
	q.recycle(b)
	if b[0] != nil || b[1] != nil {
		t.Fatal("recycle did not clear the batch")
	}
	fill(t, q, "c")
	b2 := takeBatch(q)
	if len(b2) != 1 || string(b2[0][0]) != "c" {
		t.Fatalf("take %q", b2)
	}
	if len(takeBatch(q)) != 0 {
		t.Fatal("second take not empty")
	}
}

func TestPolicyString(t *testing.T) {
	for p, s := range map[Policy]string{Block: "block", DropNewest: "drop-newest", DropOldest: "drop-oldest", Policy(9): "unknown"} {
		if p.String() != s {
			t.Errorf("%d.String() = %q", p, p.String())
		}
	}
}

func TestQueueByteBound(t *testing.T) {
	q := newQueue(100, 10)
	fill(t, q, "aaaa", "bbbb") // 8 bytes
	if dropped, err := q.push(context.Background(), msg("ccc"), DropNewest); dropped != 1 || !errors.Is(err, ErrQueueFull) {
		t.Fatalf("push over the byte bound = %v, %v", dropped, err)
	}
	if dropped, err := q.push(context.Background(), msg("cc"), DropNewest); dropped != 0 || err != nil {
		t.Fatalf("push up to the byte bound = %v, %v", dropped, err)
	}
	// DropOldest drops as many as it takes to make room.
	if dropped, err := q.push(context.Background(), msg("dddddddd"), DropOldest); dropped != 2 || err != nil {
		t.Fatalf("DropOldest of 8 bytes = %v, %v; want 2 dropped", dropped, err)
	}
	if got := queued(q); !equal(got, []string{"cc", "dddddddd"}) {
		t.Fatalf("queue %v", got)
	}
	if n, b := q.stats(); n != 2 || b != 10 {
		t.Fatalf("stats %d messages, %d bytes", n, b)
	}
	takeBatch(q)
	// A message larger than the bound fits into an empty queue, alone.
	if dropped, err := q.push(context.Background(), msg("0123456789abcdef"), DropNewest); dropped != 0 || err != nil {
		t.Fatalf("large message into an empty queue = %v, %v", dropped, err)
	}
	if dropped, _ := q.push(context.Background(), msg("x"), DropNewest); dropped != 1 {
		t.Fatal("a second message fitted behind a message over the bound")
	}
}

func TestQueueForceAndWaitRoom(t *testing.T) {
	q := newQueue(2, 0)
	fill(t, q, "a", "b")
	if dropped, err := q.push(context.Background(), msg("c"), Force); dropped != 0 || err != nil {
		t.Fatalf("Force into a full queue = %v, %v", dropped, err)
	}
	if got := queued(q); !equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("queue %v", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := q.waitRoom(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waitRoom on a full queue = %v", err)
	}
	got := make(chan error, 1)
	go func() { got <- q.waitRoom(context.Background()) }()
	takeBatch(q)
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waitRoom did not return after the writer took the queue")
	}
	fill(t, q, "d", "e")
	go func() { got <- q.waitRoom(context.Background()) }()
	q.close()
	if err := <-got; !errors.Is(err, ErrClosed) {
		t.Fatalf("waitRoom after close = %v", err)
	}
}

func takeBatch(q *queue) [][][]byte {
	b, _ := q.take()
	return b
}

func TestQueueReportsRoomAfterOver(t *testing.T) {
	q := newQueue(2, 0)
	fill(t, q, "a")
	if q.over() {
		t.Fatal("over with room left")
	}
	if _, room := q.take(); room {
		t.Fatal("room reported though nobody saw the queue over")
	}
	fill(t, q, "b", "c")
	if !q.over() {
		t.Fatal("not over at its bound")
	}
	if _, room := q.take(); !room {
		t.Fatal("no room reported after over")
	}
	if _, room := q.take(); room {
		t.Fatal("room reported twice")
	}
}
