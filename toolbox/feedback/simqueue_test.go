package feedback

import (
	"errors"
	"math"
	"testing"
	"time"
)

// skQueue builds a 10-server, 10 ms exponential backend (1,000 req/s).
func skQueue(t *testing.T, seed uint64, rate float64, limit int) (*Sim, *QueueServer) {
	t.Helper()
	sim := NewSim(seed)
	q, err := NewQueueServer(sim, QueueConfig{Servers: 10, Service: Exponential(10 * time.Millisecond), Rate: rate, Limit: limit})
	if err != nil {
		t.Fatal(err)
	}
	return sim, q
}

// skErlangC returns the probability that an arrival waits in an M/M/c
// queue with c servers and offered load a = λ/μ (Erlang C formula).
func skErlangC(c int, a float64) float64 {
	sum, term := 0.0, 1.0 // term = a^k/k!
	for k := 0; k < c; k++ {
		sum += term
		term *= a / float64(k+1)
	}
	rho := a / float64(c)
	top := term / (1 - rho) // a^c/c! · 1/(1-ρ)
	return top / (sum + top)
}

func TestSimQueueMatchesMMc(t *testing.T) {
	const lambda, mu, c = 700.0, 100.0, 10
	_, q := skQueue(t, 7, lambda, 0)
	q.Step(10 * time.Second) // warm up
	var waitSum, utilSum float64
	var n int
	const windows = 300
	for range windows {
		s := q.Step(time.Second)
		waitSum += s.MeanWait.Seconds() * float64(s.Completed)
		utilSum += s.Utilisation
		n += s.Completed
	}
	wq := waitSum / float64(n)
	want := skErlangC(c, lambda/mu) / (c*mu - lambda)
	if math.Abs(wq-want)/want > 0.15 {
		t.Errorf("mean queue wait %.3f ms, M/M/c says %.3f ms (±15%%)", wq*1e3, want*1e3)
	}
	util := utilSum / windows
	if math.Abs(util-lambda/(c*mu)) > 0.02 {
		t.Errorf("utilisation %.4f, want %.2f ± 0.02", util, lambda/(c*mu))
	}
	t.Logf("M/M/10 at ρ=0.7: mean wait %.3f ms (theory %.3f ms), utilisation %.4f over %d requests", wq*1e3, want*1e3, util, n)
}

func TestSimQueueOverloadWithoutLimitGrows(t *testing.T) {
	_, q := skQueue(t, 3, 3000, 0)
	var p99 []time.Duration
	for range 5 {
		s := q.Step(time.Second)
		p99 = append(p99, s.P99)
	}
	for i := 1; i < len(p99); i++ {
		if p99[i] <= p99[i-1] {
			t.Fatalf("p99 did not grow under 3x load without a limit: %v", p99)
		}
	}
	if p99[4] < 2*time.Second {
		t.Fatalf("p99 after 5 s of 3x load = %v, want > 2 s (backlog grows 2,000 req/s)", p99[4])
	}
	t.Logf("p99 per second without limit at 3x: %v", p99)
}

func TestSimQueueOverloadWithLimitBounded(t *testing.T) {
	// limit 10 = the servers (no queue), 20 = one service time of queue.
	for _, c := range []struct {
		limit   int
		maxP99  time.Duration
		minGood float64
	}{
		{10, 80 * time.Millisecond, 930},
		{20, 150 * time.Millisecond, 950},
	} {
		_, q := skQueue(t, 3, 3000, c.limit)
		var worst time.Duration
		var good float64
		for range 10 {
			s := q.Step(time.Second)
			worst = max(worst, s.P99)
			good += s.Goodput
			if s.InFlight > c.limit {
				t.Fatalf("limit %d: in flight %d above the limit", c.limit, s.InFlight)
			}
			if s.Rejected == 0 {
				t.Fatalf("limit %d: no rejections at 3x load: %+v", c.limit, s)
			}
		}
		t.Logf("limit %d at 3x: worst p99 %v, goodput %.0f req/s", c.limit, worst, good/10)
		if worst > c.maxP99 {
			t.Errorf("limit %d: worst window p99 %v, want ≤ %v", c.limit, worst, c.maxP99)
		}
		if good/10 < c.minGood {
			t.Errorf("limit %d: goodput %.0f req/s at 3x, want ≥ %.0f (capacity 1,000)", c.limit, good/10, c.minGood)
		}
	}
}

func TestSimQueueRateStepAndLimitChange(t *testing.T) {
	_, q := skQueue(t, 11, 500, 0)
	s := q.Step(2 * time.Second)
	if math.Abs(s.Throughput-500) > 50 {
		t.Fatalf("throughput at 500 req/s offered = %.0f", s.Throughput)
	}
	q.SetArrivalRate(0)
	q.Step(time.Second) // drain
	s = q.Step(time.Second)
	if s.Arrivals != 0 || s.InFlight != 0 {
		t.Fatalf("after rate 0: %+v", s)
	}
	q.SetArrivalRate(2000)
	q.SetLimit(5)
	s = q.Step(time.Second)
	if s.Rejected == 0 || s.Limit != 5 || s.InFlight > 5 {
		t.Fatalf("limit 5 at 2x: %+v", s)
	}
}

func TestSimQueueDeadlineGoodput(t *testing.T) {
	sim := NewSim(5)
	q, err := NewQueueServer(sim, QueueConfig{Servers: 10, Service: Exponential(10 * time.Millisecond), Rate: 3000, Deadline: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	q.Step(time.Second)
	s := q.Step(time.Second)
	if s.Throughput < 900 || s.Goodput > 0.1*s.Throughput {
		t.Fatalf("unlimited 3x with 100 ms deadline: throughput %.0f goodput %.0f, want busy servers and almost no goodput", s.Throughput, s.Goodput)
	}
}

func TestSimConfigErrors(t *testing.T) {
	sim := NewSim(1)
	exp := Exponential(time.Millisecond)
	queue := []QueueConfig{
		{Servers: 0, Service: exp},
		{Servers: 1},
		{Servers: 1, Service: exp, Rate: -1},
		{Servers: 1, Service: exp, Limit: -1},
		{Servers: 1, Service: exp, Deadline: -1},
	}
	for _, cfg := range queue {
		if _, err := NewQueueServer(sim, cfg); !errors.Is(err, ErrSimConfig) {
			t.Errorf("NewQueueServer(%+v) = %v, want ErrSimConfig", cfg, err)
		}
	}
	if _, err := NewQueueServer(nil, QueueConfig{Servers: 1, Service: exp}); !errors.Is(err, ErrSimConfig) {
		t.Errorf("nil sim: %v", err)
	}
	for _, cfg := range []PoolConfig{{Workers: -1, Service: exp}, {Workers: 1}, {Workers: 1, Service: exp, Rate: -2}} {
		if _, err := NewWorkerPool(sim, cfg); !errors.Is(err, ErrSimConfig) {
			t.Errorf("NewWorkerPool(%+v) = %v, want ErrSimConfig", cfg, err)
		}
	}
	for _, cfg := range []CacheConfig{{Keys: 0, Rate: 1}, {Keys: 10, Rate: 0}, {Keys: 10, Rate: 1, Skew: 0.9}, {Keys: 10, Rate: 1, Capacity: -1}} {
		if _, err := NewCachePlant(sim, cfg); !errors.Is(err, ErrSimConfig) {
			t.Errorf("NewCachePlant(%+v) = %v, want ErrSimConfig", cfg, err)
		}
	}
}

// TestQueueServerOnComplete checks the per-request hook: one call per
// completion, with the latency the window's stats are made of and an
// in-flight count within the admission limit, and that a limit set from
// the hook takes effect at once.
func TestQueueServerOnComplete(t *testing.T) {
	sim := NewSim(3)
	var calls, over int
	var maxLat time.Duration
	var q *QueueServer
	q, err := NewQueueServer(sim, QueueConfig{
		Servers: 10, Service: Exponential(10 * time.Millisecond), Rate: 3000, Limit: 30,
		OnComplete: func(lat time.Duration, inflight int) {
			calls++
			maxLat = max(maxLat, lat)
			if inflight < 1 || inflight > 30 {
				over++
			}
			if calls == 500 {
				q.SetLimit(12) // from inside the simulation
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	var last QueueStats
	for range 20 {
		last = q.Step(100 * time.Millisecond)
		total += last.Completed
		if last.InFlight > 30 {
			t.Fatalf("in flight %d above the limit", last.InFlight)
		}
	}
	if calls != total || calls == 0 {
		t.Fatalf("hook called %d times for %d completions", calls, total)
	}
	if over != 0 {
		t.Fatalf("%d completions reported an in-flight count outside [1, 30]", over)
	}
	if last.Limit != 12 || last.InFlight > 12 {
		t.Fatalf("limit set from the hook: stats say limit %d, in flight %d", last.Limit, last.InFlight)
	}
	if maxLat <= 10*time.Millisecond {
		t.Fatalf("largest latency %v: at 3× load some requests must queue", maxLat)
	}
}

// TestQueueServerSetServers checks that added servers start queued
// requests at once and that fewer servers serve less.
func TestQueueServerSetServers(t *testing.T) {
	sim := NewSim(4)
	q, err := NewQueueServer(sim, QueueConfig{Servers: 2, Service: Exponential(10 * time.Millisecond), Rate: 500})
	if err != nil {
		t.Fatal(err)
	}
	slow := q.Step(time.Second) // 2.5× the capacity of 200/s: a queue builds
	if slow.Queued < 100 || slow.Throughput > 250 {
		t.Fatalf("2 servers at 500/s: queued %d, throughput %.0f", slow.Queued, slow.Throughput)
	}
	q.SetServers(20)
	fast := q.Step(time.Second)
	if fast.Queued > 20 || fast.Throughput < 500 {
		t.Fatalf("20 servers: queued %d, throughput %.0f: the backlog should drain", fast.Queued, fast.Throughput)
	}
	q.SetServers(0) // taken as 1
	if one := q.Step(time.Second); one.Throughput > 150 {
		t.Fatalf("1 server: throughput %.0f, want ≤ 150", one.Throughput)
	}
}
