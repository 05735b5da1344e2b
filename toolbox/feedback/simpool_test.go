package feedback

import (
	"testing"
	"time"
)

func TestSimPoolWaitFallsWithWorkers(t *testing.T) {
	var prev time.Duration = -1
	for _, workers := range []int{8, 9, 10, 12, 16} {
		sim := NewSim(9)
		p, err := NewWorkerPool(sim, PoolConfig{Workers: workers, Service: Exponential(10 * time.Millisecond), Rate: 700})
		if err != nil {
			t.Fatal(err)
		}
		p.Step(5 * time.Second)
		s := p.Step(60 * time.Second)
		t.Logf("%2d workers: wait mean %v p99 %v utilisation %.3f", workers, s.WaitMean, s.WaitP99, s.Utilisation)
		if prev >= 0 && s.WaitMean >= prev {
			t.Fatalf("%d workers: mean wait %v not below %v with fewer workers", workers, s.WaitMean, prev)
		}
		prev = s.WaitMean
	}
}

func TestSimPoolScaleUpDrainsBacklog(t *testing.T) {
	sim := NewSim(2)
	p, err := NewWorkerPool(sim, PoolConfig{Workers: 5, Service: Exponential(10 * time.Millisecond), Rate: 800})
	if err != nil {
		t.Fatal(err)
	}
	s := p.Step(2 * time.Second) // capacity 500 < 800: backlog builds
	if s.Queued < 300 || s.OldestWait < 500*time.Millisecond {
		t.Fatalf("5 workers at 800 jobs/s: %+v, want a backlog", s)
	}
	p.SetWorkers(20)
	p.Step(2 * time.Second)
	s = p.Step(time.Second)
	if s.Queued > 20 || s.WaitP99 > 50*time.Millisecond || s.Workers != 20 {
		t.Fatalf("after scaling to 20 workers: %+v, want the backlog drained", s)
	}
	p.SetWorkers(0)
	p.Step(time.Second)
	s = p.Step(time.Second)
	if s.Completed != 0 || s.Queued < 500 {
		t.Fatalf("0 workers: %+v, want nothing served and a queue", s)
	}
}
