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

// Workers are woken one at a time, each waking the next when work is
// left: a burst of blocking requests, from one connection or many,
// still runs on as many workers as it has requests (up to the limits),
// whether the workers are idle or not started yet.
func TestPoolWakesAWorkerPerWaitingRequest(t *testing.T) {
	for _, tc := range []struct {
		name        string
		conns, each int
		connRun     int
		prestart    bool
		idleFirst   bool
	}{
		{name: "many connections, started", conns: 12, each: 1, connRun: 4, prestart: true},
		{name: "many connections, on demand", conns: 12, each: 1, connRun: 4},
		{name: "one connection", conns: 1, each: 8, connRun: 8, prestart: true},
		{name: "workers idle after a first burst", conns: 6, each: 2, connRun: 2, prestart: true, idleFirst: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := tc.conns * tc.each
			var running sync.WaitGroup
			release, stop := make(chan struct{}), make(chan struct{})
			p := newPool(poolLimits{workers: 16, queue: 100, queueBytes: 1 << 20, connRun: tc.connRun, connQueue: 100, connBytes: 1 << 20}, func(j job) {
				running.Done()
				select {
				case <-release:
				case <-stop:
				}
			})
			if tc.prestart {
				p.start()
			}
			defer p.close()
			defer close(stop) // a failed test lets its handlers return
			rounds := 1
			if tc.idleFirst {
				rounds = 2
			}
			for range rounds {
				running.Add(n)
				for range tc.conns {
					cq := &connQueue{}
					for i := range tc.each {
						if !p.submit(cq, poolJob(cq, uint64(i), 1)) {
							t.Fatal("refused")
						}
					}
				}
				all := make(chan struct{})
				go func() { running.Wait(); close(all) }()
				select {
				case <-all:
				case <-time.After(10 * time.Second):
					t.Fatalf("not every one of %d blocking requests started: a request waited for a busy worker while others were idle", n)
				}
				for range n {
					release <- struct{}{}
				}
			}
		})
	}
}
