package feedback

import (
	"errors"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/core/coretest"
)

// The admission rule on its own: each row fills partitions with
// in-flight requests and asks whether one more of a class is let in.
func TestInterceptPartitionAdmission(t *testing.T) {
	shares := []Partition{{"interactive", 0.5}, {"batch", 0.25}, {"bulk", 0.25}}
	tests := []struct {
		name     string
		inflight []int // per partition
		limit    int
		class    int
		want     bool
	}{
		{"idle, interactive", []int{0, 0, 0}, 8, 0, true},
		{"interactive borrows idle batch and bulk", []int{7, 0, 0}, 8, 0, true},
		{"at the limit", []int{8, 0, 0}, 8, 0, false},
		{"batch within its share", []int{0, 1, 0}, 8, 1, true},
		{"batch beyond its share leaves interactive's", []int{0, 2, 0}, 8, 1, true},
		{"batch may not take interactive's share", []int{0, 4, 0}, 8, 1, false},
		{"batch takes what interactive leaves", []int{4, 3, 0}, 8, 1, true},
		{"batch keeps clear of interactive's unused share", []int{3, 4, 0}, 8, 1, false},
		{"bulk may not take batch's share either", []int{4, 0, 2}, 8, 2, false},
		{"bulk within its share even when busy", []int{4, 1, 1}, 8, 2, true},
		{"interactive within its share at a full limit", []int{2, 3, 3}, 8, 0, false},
		{"interactive beyond its share borrows", []int{5, 0, 0}, 8, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts := make([]*partition, len(shares))
			total := 0
			for i, p := range shares {
				parts[i] = &partition{Partition: p, inflight: tt.inflight[i]}
				total += tt.inflight[i]
			}
			if got := admitLocked(parts, tt.class, total, tt.limit); got != tt.want {
				t.Fatalf("admit %s with %v in flight under %d: %v, want %v", shares[tt.class].Name, tt.inflight, tt.limit, got, tt.want)
			}
		})
	}
}

// A flood of batch calls does not starve interactive ones: with a
// limit of 8 split half and half, 3 interactive callers are never
// shed while 16 batch callers are, and unclassified calls count as
// batch (the last partition).
func TestInterceptPartitionBatchFloodSparesInteractive(t *testing.T) {
	e := newIenv(t)
	sl, err := NewServerLimiter(fixedLimit(t, 8),
		WithPartitions(Partition{"interactive", 0.5}, Partition{"batch", 0.5}))
	if err != nil {
		t.Fatal(err)
	}
	srv := e.peer("srv", core.WithServerInterceptors(sl.Interceptor()))
	e.serve(srv, "work", sleepHandler(5*time.Millisecond))
	ctx := timeout(t, 60*time.Second)
	stop := make(chan struct{})
	waitBatch := floodUntil(ctx, e.peer("batch"), "work", "batch", 16, stop)
	waitNone := floodUntil(ctx, e.peer("unclassed"), "work", "", 4, stop)
	coretest.WaitFor(t, 10*time.Second, "batch to be shed", func() bool { return sl.Stats().Partitions[1].Shed > 50 })

	inter := e.peer("inter")
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			for range 40 {
				if err := call(ctx, inter, "work", "interactive"); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	var failed error
	for range 3 {
		if err := <-errs; err != nil {
			failed = err
		}
	}
	close(stop)
	bOK, bShed, bOther := waitBatch()
	_, nShed, _ := waitNone()
	if failed != nil {
		t.Fatalf("interactive call during the batch flood: %v", failed)
	}
	st := sl.Stats()
	in, ba := st.Partitions[0], st.Partitions[1]
	if in.Shed != 0 || in.Admitted != 120 {
		t.Fatalf("interactive: %+v, want 120 admitted and none shed", in)
	}
	if bShed == 0 || bOK == 0 || bOther != 0 || ba.Shed < uint64(bShed+nShed) {
		t.Fatalf("batch flood: %d served, %d shed, %d other; stats %+v", bOK, bShed, bOther, ba)
	}
	coretest.WaitFor(t, 10*time.Second, "in flight back to 0", func() bool { return sl.Stats().InFlight == 0 })
}

// Interactive calls may use all the limit while batch is idle; batch
// never gets more than its share plus what interactive leaves.
func TestInterceptPartitionBorrowing(t *testing.T) {
	e := newIenv(t)
	sl, err := NewServerLimiter(fixedLimit(t, 8),
		WithPartitions(Partition{"interactive", 0.5}, Partition{"batch", 0.5}))
	if err != nil {
		t.Fatal(err)
	}
	srv := e.peer("srv", core.WithServerInterceptors(sl.Interceptor()))
	g := newGate()
	defer g.release()
	e.serve(srv, "work", g.serve)
	cli := e.peer("cli")
	ctx := timeout(t, 30*time.Second)

	hold := func(class string, n int) chan error {
		errs := make(chan error, n)
		for range n {
			go func() { errs <- call(ctx, cli, "work", class) }()
		}
		return errs
	}
	expectShed := func(errs chan error, n int) {
		t.Helper()
		for range n {
			if err := <-errs; !errors.Is(err, core.ErrOverloaded) {
				t.Fatalf("call beyond the share: %v, want ErrOverloaded", err)
			}
		}
	}
	batch := hold("batch", 6) // batch alone: its 4, not interactive's 4
	expectShed(batch, 2)
	coretest.WaitFor(t, 10*time.Second, "4 batch calls held", func() bool { return g.started.Load() == 4 })
	inter := hold("interactive", 6) // interactive: its 4, then nothing is left
	expectShed(inter, 2)
	coretest.WaitFor(t, 10*time.Second, "8 calls held", func() bool { return g.started.Load() == 8 })
	g.release()
	for range 8 {
		var err error
		select {
		case err = <-batch:
		case err = <-inter:
		}
		if err != nil {
			t.Fatalf("admitted call: %v", err)
		}
	}
	coretest.WaitFor(t, 10*time.Second, "in flight back to 0", func() bool { return sl.Stats().InFlight == 0 })

	g2 := newGate()
	defer g2.release()
	if err := srv.HandleFunc("work", g2.serve); err != nil {
		t.Fatal(err)
	}
	inter = hold("interactive", 9) // batch idle: interactive borrows all 8
	expectShed(inter, 1)
	coretest.WaitFor(t, 10*time.Second, "8 interactive calls held", func() bool { return g2.started.Load() == 8 })
	if st := sl.Stats(); st.Partitions[0].InFlight != 8 {
		t.Fatalf("interactive borrowing: %+v", st)
	}
	g2.release()
	for range 8 {
		if err := <-inter; err != nil {
			t.Fatalf("admitted call: %v", err)
		}
	}
}
