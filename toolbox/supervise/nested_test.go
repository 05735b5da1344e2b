package supervise

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
)

// waitExits waits until s has seen more than n exits, then until it has
// handled them.
func waitExits(t *testing.T, s *Supervisor, n int64) {
	t.Helper()
	waitFor(t, 10*time.Second, "an exit under "+s.Name(), func() bool { return s.counters.exits.Load() > n })
	if err := s.sync(testCtx(t, 10*time.Second)); err != nil && !errors.Is(err, ErrNotRunning) {
		t.Fatal(err)
	}
}

// TestNestedIntensityEscalates: a child supervisor that reaches its
// intensity fails, and its parent restarts it (and with it its
// children).
func TestNestedIntensityEscalates(t *testing.T) {
	w := newFake("w")
	inner, err := New("inner", OneForOne, []Spec{{Name: "w", Child: w}},
		WithIntensity(1, time.Minute), WithBackoff(NoBackoff()), WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	outer, err := New("outer", OneForOne, []Spec{{Name: "a", Child: newFake("a")}, {Name: "inner", Child: inner, Shutdown: 10 * time.Second}},
		WithBackoff(NoBackoff()), WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer outer.Close()
	ctx := testCtx(t, 10*time.Second)
	if err := outer.Start(ctx); err != nil {
		t.Fatal(err)
	}
	n := inner.counters.exits.Load()
	w.exit(false) // inner restarts w: 1 restart, allowed
	waitExits(t, inner, n)
	if st := inner.Status(); st.State != core.StateRunning {
		t.Fatalf("inner %v after one restart", st.State)
	}
	outerExits := outer.counters.exits.Load()
	w.exit(false) // a second: inner fails, outer restarts it
	waitExits(t, outer, outerExits)
	kids := outer.Children()
	if kids[1].Name != "inner" || !kids[1].Supervisor || kids[1].Restarts != 1 || kids[1].State != ChildRunning {
		t.Fatalf("outer sees inner as %+v", kids[1])
	}
	if ex := kids[1].LastExit; ex == nil || ex.Normal || !strings.Contains(ex.Error, ErrIntensity.Error()) {
		t.Errorf("inner's last exit %+v, want abnormal with ErrIntensity", ex)
	}
	if st := inner.Status(); st.State != core.StateRunning || st.Restarts != 1 {
		t.Errorf("inner status %v restarts %d", st.State, st.Restarts)
	}
	if !w.running() || w.starts != 3 {
		t.Errorf("w running=%v starts=%d, want running after 3 starts", w.running(), w.starts)
	}
	if n := outer.Count(); n != (Counts{Specs: 2, Active: 2, Supervisors: 1, Workers: 1}) {
		t.Errorf("outer count %+v", n)
	}
}

// TestNestedAutoShutdownIsNormal: a child supervisor that shuts itself
// down exits normally: a transient spec of it is not restarted.
func TestNestedAutoShutdownIsNormal(t *testing.T) {
	job := newFake("job")
	inner, err := New("inner", OneForOne, []Spec{{Name: "job", Child: job, Restart: Transient, Significant: true}},
		WithAutoShutdown(AnySignificant), WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	outer, err := New("outer", OneForOne, []Spec{{Name: "inner", Child: inner, Restart: Transient}}, WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer outer.Close()
	if err := outer.Start(testCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	n := outer.counters.exits.Load()
	job.exit(true)
	waitExits(t, outer, n)
	kid := outer.Children()[0]
	if kid.State != ChildStopped || kid.Restarts != 0 || kid.LastExit == nil || !kid.LastExit.Normal {
		t.Errorf("inner seen as %+v, want stopped after a normal exit", kid)
	}
}

// stopLog records the order of Stop calls across a tree.
type stopLog struct {
	mu    sync.Mutex
	names []string
}

type logStop struct {
	Child
	name string
	log  *stopLog
}

func (l logStop) Stop(ctx context.Context) error {
	l.log.mu.Lock()
	l.log.names = append(l.log.names, l.name)
	l.log.mu.Unlock()
	return l.Child.Stop(ctx)
}

// TestNestedStopOrder: a tree stops depth first, last started first.
func TestNestedStopOrder(t *testing.T) {
	log := &stopLog{}
	spec := func(name string, c Child) Spec { return Spec{Name: name, Child: logStop{c, name, log}} }
	inner, err := New("inner", OneForAll, []Spec{spec("x", newFake("x")), spec("y", newFake("y"))}, WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	outer, err := New("outer", RestForOne, []Spec{spec("a", newFake("a")), spec("inner", inner), spec("b", newFake("b"))}, WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer outer.Close()
	ctx := testCtx(t, 10*time.Second)
	if err := outer.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := outer.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(log.names, " "); got != "b inner y x a" {
		t.Errorf("stop order %q", got)
	}
	if st := inner.Status(); st.State != core.StateStopped {
		t.Errorf("inner %v", st.State)
	}
}
