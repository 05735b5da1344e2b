package core

import (
	"sync"
	"testing"
	"time"
)

// poolJob is a job of connection conn, numbered n, with a body of size.
func poolJob(conn *connQueue, n uint64, size int) job {
	return job{cq: conn, msg: rpcMessage{header: header{id: n}, body: make([]byte, size)}}
}

// A connection that queued many requests does not delay another's by
// more than one request per turn.
func TestPoolTakesConnectionsInTurn(t *testing.T) {
	var mu sync.Mutex
	var order []*connQueue
	release := make(chan struct{})
	p := newPool(poolLimits{workers: 1, queue: 100, queueBytes: 1 << 20, connRun: 1, connQueue: 100, connBytes: 1 << 20}, func(j job) {
		mu.Lock()
		order = append(order, j.cq)
		mu.Unlock()
		<-release
	})
	p.start()
	defer p.close()
	a, b := &connQueue{}, &connQueue{}
	for i := range 10 {
		if !p.submit(a, poolJob(a, uint64(i), 1)) {
			t.Fatal("refused")
		}
	}
	for i := range 3 {
		if !p.submit(b, poolJob(b, uint64(i), 1)) {
			t.Fatal("refused")
		}
	}
	for range 13 {
		release <- struct{}{}
	}
	waitCond(t, 5*time.Second, "every job run", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(order) == 13
	})
	// The worker was already on a's first request when b's arrived:
	// a, then b and a alternate until b has none left.
	want := []*connQueue{a, b, a, b, a, b, a, a, a, a, a, a, a}
	for i := range want {
		if order[i] != want[i] {
			names := map[*connQueue]string{a: "a", b: "b"}
			got := ""
			for _, c := range order {
				got += names[c]
			}
			t.Fatalf("order %s", got)
		}
	}
}

// Limits: requests of one connection running at once, waiting, and
// their bytes; and the whole pool's.
func TestPoolLimits(t *testing.T) {
	block := make(chan struct{})
	var running sync.WaitGroup
	p := newPool(poolLimits{workers: 4, queue: 5, queueBytes: 100, connRun: 2, connQueue: 3, connBytes: 10}, func(job) {
		running.Done()
		<-block
	})
	p.start()
	a, b, c := &connQueue{}, &connQueue{}, &connQueue{}
	defer func() {
		for _, cq := range []*connQueue{a, b, c} { // no waiting request may run: it would count Done once too often
			p.drop(cq)
		}
		close(block)
		p.close()
	}()
	running.Add(2)
	for i := range 2 {
		p.submit(a, poolJob(a, uint64(i), 1))
	}
	running.Wait() // a runs two, its limit
	for i := range 3 {
		if !p.submit(a, poolJob(a, uint64(10+i), 1)) {
			t.Fatalf("waiting request %d refused", i)
		}
	}
	if p.submit(a, poolJob(a, 20, 1)) {
		t.Fatal("a fourth waiting request of one connection accepted")
	}
	if q, _ := p.stats(); q != 3 {
		t.Fatalf("%d waiting, want 3: a connection at its limit runs no more", q)
	}
	// b: a body larger than the connection's byte bound fits alone.
	for i := range 2 {
		running.Add(1)
		if !p.submit(b, poolJob(b, uint64(1+i), 50)) {
			t.Fatal("b refused")
		}
		running.Wait()
	}
	if !p.submit(b, poolJob(b, 3, 20)) {
		t.Fatal("a request larger than the connection's byte bound refused with none waiting")
	}
	if p.submit(b, poolJob(b, 4, 1)) {
		t.Fatal("accepted past the connection's byte bound")
	}
	if !p.submit(c, poolJob(c, 5, 1)) {
		t.Fatal("another connection refused below the pool's limits")
	}
	if p.submit(&connQueue{}, poolJob(nil, 6, 1)) {
		t.Fatal("accepted past the pool's queue limit")
	}
	if _, refused := p.stats(); refused != 3 {
		t.Fatalf("%d refusals counted, want 3", refused)
	}
}

// Dropping a connection's requests while it waits for its turn must
// not leave the worker an empty queue (a crash found by the soak).
func TestPoolDropWhileInLine(t *testing.T) {
	release := make(chan struct{})
	ran := make(chan uint64, 10)
	p := newPool(poolLimits{workers: 1, queue: 10, queueBytes: 1 << 20, connRun: 1, connQueue: 10, connBytes: 1 << 20}, func(j job) {
		ran <- j.msg.id
		<-release
	})
	p.start()
	defer p.close()
	a, b := &connQueue{}, &connQueue{}
	p.submit(a, poolJob(a, 1, 1))
	if id := <-ran; id != 1 {
		t.Fatal(id)
	}
	p.submit(b, poolJob(b, 2, 1)) // b waits in line behind the busy worker
	p.submit(a, poolJob(a, 3, 1))
	if dropped := p.drop(b); len(dropped) != 1 {
		t.Fatalf("dropped %d", len(dropped))
	}
	if p.submit(b, poolJob(b, 4, 1)) {
		t.Fatal("a closed connection's request accepted")
	}
	release <- struct{}{}
	if id := <-ran; id != 3 {
		t.Fatalf("ran %d after the drop, want 3", id)
	}
	release <- struct{}{}
	if q, _ := p.stats(); q != 0 {
		t.Fatalf("%d still counted as waiting", q)
	}
}
