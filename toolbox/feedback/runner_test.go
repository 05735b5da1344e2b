package feedback

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunnerStepsAndStops(t *testing.T) {
	var calls atomic.Int64
	var total atomic.Int64
	r, err := NewRunner(StepFunc(func(dt time.Duration) {
		if dt <= 0 {
			t.Errorf("dt %v: want > 0", dt)
		}
		total.Add(int64(dt))
		calls.Add(1)
	}), 5*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for calls.Load() < 5 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	n := calls.Load()
	if n < 5 {
		t.Fatalf("%d steps in 10 s at a 5 ms interval", n)
	}
	if got := time.Duration(total.Load()); got < time.Duration(n)*5*time.Millisecond/2 {
		t.Fatalf("dt summed to %v over %d steps: too little", got, n)
	}
	time.Sleep(20 * time.Millisecond)
	if calls.Load() != n {
		t.Fatal("Step called after Close returned")
	}
	if err := r.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
}

func TestRunnerCloseWaitsForStep(t *testing.T) {
	entered := make(chan struct{})
	var finished atomic.Bool
	r, err := NewRunner(StepFunc(func(time.Duration) {
		select {
		case <-entered:
			return
		default:
		}
		close(entered)
		time.Sleep(50 * time.Millisecond)
		finished.Store(true)
	}), time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	<-entered
	r.Close()
	if !finished.Load() {
		t.Fatal("Close returned while a step was running")
	}
}

func TestRunnerConfig(t *testing.T) {
	if _, err := NewRunner(nil, time.Second); !errors.Is(err, ErrRunnerConfig) {
		t.Fatalf("nil stepper: %v", err)
	}
	if _, err := NewRunner(StepFunc(func(time.Duration) {}), 0); !errors.Is(err, ErrRunnerConfig) {
		t.Fatalf("zero interval: %v", err)
	}
}
