package supervise

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
)

// TestPolicyTable: for each static strategy and each restart type of the
// child that ends (b, between permanent a and c), normally or not, the
// exact events and the children's states after.
func TestPolicyTable(t *testing.T) {
	const (
		restartB = "exited b; restarting b; started b"
		stays    = "exited b"
		removed  = "exited b; removed b"
		allB     = "exited b; restarting b; stopped c; stopped a; started a; started b; started c"
		restB    = "exited b; restarting b; stopped c; started b; started c"
	)
	cases := []struct {
		strategy Strategy
		restart  RestartType
		normal   bool
		want     string
		states   string
	}{
		{OneForOne, Permanent, true, restartB, "a:running b:running c:running"},
		{OneForOne, Permanent, false, restartB, "a:running b:running c:running"},
		{OneForOne, Transient, true, stays, "a:running b:stopped c:running"},
		{OneForOne, Transient, false, restartB, "a:running b:running c:running"},
		{OneForOne, Temporary, true, removed, "a:running c:running"},
		{OneForOne, Temporary, false, removed, "a:running c:running"},
		{OneForAll, Permanent, true, allB, "a:running b:running c:running"},
		{OneForAll, Permanent, false, allB, "a:running b:running c:running"},
		{OneForAll, Transient, true, stays, "a:running b:stopped c:running"},
		{OneForAll, Transient, false, allB, "a:running b:running c:running"},
		{OneForAll, Temporary, true, removed, "a:running c:running"},
		{OneForAll, Temporary, false, removed, "a:running c:running"},
		{RestForOne, Permanent, true, restB, "a:running b:running c:running"},
		{RestForOne, Permanent, false, restB, "a:running b:running c:running"},
		{RestForOne, Transient, true, stays, "a:running b:stopped c:running"},
		{RestForOne, Transient, false, restB, "a:running b:running c:running"},
		{RestForOne, Temporary, true, removed, "a:running c:running"},
		{RestForOne, Temporary, false, removed, "a:running c:running"},
	}
	for _, tc := range cases {
		name := tc.strategy.String() + "/" + tc.restart.String() + "/normal=" + map[bool]string{true: "yes", false: "no"}[tc.normal]
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, tc.strategy, []kidSpec{{name: "a"}, {name: "b", restart: tc.restart}, {name: "c"}}).start()
			h.crash("b", tc.normal)
			h.expect(tc.want)
			if got := h.states(); got != tc.states {
				t.Errorf("children %s, want %s", got, tc.states)
			}
			if err := h.s.Stop(testCtx(t, 5*time.Second)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestPolicyTemporarySiblings: a temporary child that a sibling's
// restart stops is removed, not restarted; one before the restarted
// child under rest_for_one is left alone.
func TestPolicyTemporarySiblings(t *testing.T) {
	kids := []kidSpec{{name: "t1", restart: Temporary}, {name: "a"}, {name: "b"}, {name: "t2", restart: Temporary}}
	cases := []struct {
		strategy Strategy
		want     string
		states   string
	}{
		{OneForAll, "exited a; restarting a; stopped t2; removed t2; stopped b; stopped t1; removed t1; started a; started b", "a:running b:running"},
		{RestForOne, "exited a; restarting a; stopped t2; removed t2; stopped b; started a; started b", "t1:running a:running b:running"},
		{OneForOne, "exited a; restarting a; started a", "t1:running a:running b:running t2:running"},
	}
	for _, tc := range cases {
		t.Run(tc.strategy.String(), func(t *testing.T) {
			h := newHarness(t, tc.strategy, kids).start()
			h.crash("a", false)
			h.expect(tc.want)
			if got := h.states(); got != tc.states {
				t.Errorf("children %s, want %s", got, tc.states)
			}
		})
	}
}

// TestPolicyRestartsStoppedSiblings: as in OTP, a one_for_all restart
// starts every non-temporary child, also one that was not running (a
// transient child that had exited normally, one terminated by hand).
func TestPolicyRestartsStoppedSiblings(t *testing.T) {
	h := newHarness(t, OneForAll, []kidSpec{{name: "a"}, {name: "tr", restart: Transient}, {name: "off"}}).start()
	ctx := testCtx(t, 5*time.Second)
	h.crash("tr", true)
	if err := h.s.TerminateChild(ctx, "off"); err != nil {
		t.Fatal(err)
	}
	h.expect("exited tr; stopped off")
	h.crash("a", false)
	h.expect("exited a; restarting a; started a; started tr; started off")
	if got := h.states(); got != "a:running tr:running off:running" {
		t.Errorf("children %s", got)
	}
}

// TestPolicySimpleOneForOne: children of the template by restart type.
func TestPolicySimpleOneForOne(t *testing.T) {
	cases := []struct {
		restart RestartType
		normal  bool
		want    string
		left    int
	}{
		{Permanent, true, "exited w; restarting w; started w", 1},
		{Transient, true, "exited w; removed w", 0},
		{Transient, false, "exited w; restarting w; started w", 1},
		{Temporary, false, "exited w; removed w", 0},
	}
	for _, tc := range cases {
		t.Run(tc.restart.String(), func(t *testing.T) {
			fake := newFake("w")
			s, err := New("pool", SimpleOneForOne, nil, WithBackoff(NoBackoff()), WithLogger(quietLogger()),
				WithTemplate(Template{New: func(string, any) (Child, error) { return fake, nil }, Restart: tc.restart}))
			if err != nil {
				t.Fatal(err)
			}
			h := &harness{t: t, s: s, fakes: map[string]*fakeChild{"w": fake}}
			t.Cleanup(func() { s.Close() })
			h.start()
			if _, err := s.Spawn(testCtx(t, 5*time.Second), "w", nil); err != nil {
				t.Fatal(err)
			}
			h.expect("started w")
			h.crash("w", tc.normal)
			h.expect(tc.want)
			if n := s.Count(); n.Specs != tc.left || n.Active != tc.left {
				t.Errorf("count %+v, want %d", n, tc.left)
			}
		})
	}
}

// TestIntensity: more than MaxRestarts restarts within Period fail the
// supervisor; a restart exactly Period old no longer counts.
func TestIntensity(t *testing.T) {
	cases := []struct {
		name   string
		maxR   int
		period time.Duration
		gaps   []time.Duration // before each crash
		fails  bool
	}{
		{"zero allows none", 0, time.Second, []time.Duration{0}, true},
		{"at the limit", 2, 10 * time.Second, []time.Duration{0, time.Second}, false},
		{"one too many", 2, 10 * time.Second, []time.Duration{0, time.Second, time.Second}, true},
		{"spread out", 2, 10 * time.Second, []time.Duration{0, 6 * time.Second, 6 * time.Second, 6 * time.Second}, false},
		{"period boundary drops", 1, 5 * time.Second, []time.Duration{0, 5 * time.Second}, false},
		{"just inside period", 1, 5 * time.Second, []time.Duration{0, 5*time.Second - time.Nanosecond}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, OneForOne, []kidSpec{{name: "a"}, {name: "b"}}, WithIntensity(tc.maxR, tc.period)).start()
			for _, gap := range tc.gaps {
				h.clk.advance(gap)
				h.crash("b", false)
			}
			ctx := testCtx(t, 5*time.Second)
			st := h.s.Status()
			if tc.fails {
				if st.State != core.StateFailed || !errors.Is(st.Err, ErrIntensity) {
					t.Fatalf("status %v %v, want failed with ErrIntensity", st.State, st.Err)
				}
				if err := h.s.Wait(ctx); !errors.Is(err, ErrIntensity) {
					t.Errorf("Wait = %v", err)
				}
				evs := h.since()
				if want := "exited b; intensity b; stopped a"; evs[len(evs)-len(want):] != want {
					t.Errorf("events end %q, want %q", evs, want)
				}
				if h.s.Stats().Intensity != 1 {
					t.Errorf("Stats.Intensity = %d", h.s.Stats().Intensity)
				}
				return
			}
			if st.State != core.StateRunning {
				t.Fatalf("status %v %v, want running", st.State, st.Err)
			}
			if got := h.s.Children()[1].Restarts; got != len(tc.gaps) {
				t.Errorf("b restarts %d, want %d", got, len(tc.gaps))
			}
		})
	}
}

// TestAutoShutdown: significant children end the supervisor normally
// when they end by themselves, never when the supervisor stops them.
func TestAutoShutdown(t *testing.T) {
	sig := func(name string, r RestartType) kidSpec { return kidSpec{name: name, restart: r, significant: true} }
	t.Run("any/transient normal", func(t *testing.T) {
		h := newHarness(t, OneForOne, []kidSpec{{name: "a"}, sig("s", Transient), {name: "c"}}, WithAutoShutdown(AnySignificant)).start()
		h.crash("s", true)
		h.expect("exited s; auto_shutdown s; stopped c; stopped a")
		if err := h.s.Wait(testCtx(t, 5*time.Second)); err != nil {
			t.Errorf("Wait = %v, want nil (a normal end)", err)
		}
		if st := h.s.Status(); st.State != core.StateStopped {
			t.Errorf("state %v", st.State)
		}
	})
	t.Run("any/transient abnormal restarts", func(t *testing.T) {
		h := newHarness(t, OneForOne, []kidSpec{sig("s", Transient)}, WithAutoShutdown(AnySignificant)).start()
		h.crash("s", false)
		h.expect("exited s; restarting s; started s")
	})
	t.Run("any/temporary abnormal", func(t *testing.T) {
		h := newHarness(t, OneForOne, []kidSpec{{name: "a"}, sig("s", Temporary)}, WithAutoShutdown(AnySignificant)).start()
		h.crash("s", false)
		h.expect("exited s; removed s; auto_shutdown s; stopped a")
	})
	t.Run("all/waits for the last", func(t *testing.T) {
		h := newHarness(t, OneForOne, []kidSpec{{name: "a"}, sig("s1", Temporary), sig("s2", Transient)}, WithAutoShutdown(AllSignificant)).start()
		h.crash("s1", true)
		h.expect("exited s1; removed s1")
		h.crash("s2", true)
		h.expect("exited s2; auto_shutdown s2; stopped a")
	})
	t.Run("not when terminated or stopped by a sibling", func(t *testing.T) {
		h := newHarness(t, OneForAll, []kidSpec{{name: "a"}, sig("s1", Temporary), sig("s2", Transient)}, WithAutoShutdown(AnySignificant)).start()
		if err := h.s.TerminateChild(testCtx(t, 5*time.Second), "s2"); err != nil {
			t.Fatal(err)
		}
		h.crash("a", false)
		h.expect("stopped s2; exited a; restarting a; stopped s1; removed s1; started a; started s2")
		if st := h.s.Status(); st.State != core.StateRunning {
			t.Errorf("state %v, want running", st.State)
		}
	})
}

// TestStartOrderAndFailure: children start in order; one that fails
// makes those started stop in reverse order and Start fail.
func TestStartOrderAndFailure(t *testing.T) {
	h := newHarness(t, OneForOne, []kidSpec{{name: "a"}, {name: "b"}, {name: "c"}, {name: "d"}})
	h.fakes["c"].setFailStarts(1)
	err := h.s.Start(testCtx(t, 5*time.Second))
	if !errors.Is(err, ErrStartFailed) || !errors.Is(err, errStartRefused) {
		t.Fatalf("Start = %v, want ErrStartFailed wrapping the child's error", err)
	}
	h.expect("started a; started b; start_failed c; stopped b; stopped a")
	if st := h.s.Status(); st.State != core.StateFailed {
		t.Errorf("state %v", st.State)
	}
	if h.fakes["d"].starts != 0 {
		t.Errorf("d started after c failed")
	}
	// A second Start runs them all.
	h.start()
	if err := h.s.Stop(testCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	h.expect("stopped d; stopped c; stopped b; stopped a")
}

// TestRestartStartFailure: a restart whose start fails is tried again
// at once, as another restart counted by the intensity.
func TestRestartStartFailure(t *testing.T) {
	h := newHarness(t, RestForOne, []kidSpec{{name: "a"}, {name: "b"}, {name: "c"}}, WithIntensity(5, time.Minute)).start()
	h.fakes["b"].setFailStarts(2)
	h.crash("a", false)
	h.expect("exited a; restarting a; stopped c; stopped b; started a; start_failed b; " +
		"restarting b; start_failed b; restarting b; started b; started c")
	if st := h.s.Stats(); st.Restarts != 3 || st.StartFailures != 2 {
		t.Errorf("restarts %d start failures %d, want 3 and 2", st.Restarts, st.StartFailures)
	}
}

// TestRuntimeAPI: start_child, terminate_child, restart_child,
// delete_child, which_children and count_children.
func TestRuntimeAPI(t *testing.T) {
	h := newHarness(t, OneForOne, []kidSpec{{name: "a"}}).start()
	ctx := testCtx(t, 10*time.Second)
	s := h.s
	if err := s.StartChild(ctx, Spec{Name: "a", Child: newFake("a2")}); !errors.Is(err, ErrNameTaken) {
		t.Errorf("StartChild(dup) = %v", err)
	}
	x := newFake("x")
	if err := s.StartChild(ctx, Spec{Name: "x", Child: x, Restart: Transient}); err != nil {
		t.Fatal(err)
	}
	bad := newFake("bad")
	bad.setFailStarts(1)
	if err := s.StartChild(ctx, Spec{Name: "bad", Child: bad}); !errors.Is(err, ErrStartFailed) {
		t.Errorf("StartChild(failing) = %v", err)
	}
	if got := h.states(); got != "a:running x:running" {
		t.Errorf("children %s", got)
	}
	if err := s.RestartChild(ctx, "x"); !errors.Is(err, ErrRunning) {
		t.Errorf("RestartChild(running) = %v", err)
	}
	if err := s.DeleteChild(ctx, "x"); !errors.Is(err, ErrRunning) {
		t.Errorf("DeleteChild(running) = %v", err)
	}
	if err := s.TerminateChild(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("TerminateChild(unknown) = %v", err)
	}
	if err := s.TerminateChild(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if n := s.Count(); n != (Counts{Specs: 2, Active: 1, Workers: 2}) {
		t.Errorf("count %+v", n)
	}
	if err := s.RestartChild(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if err := s.TerminateChild(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteChild(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	h.expect("started x; start_failed bad; stopped x; started x; stopped x; removed x")
	if got := h.states(); got != "a:running" {
		t.Errorf("children %s", got)
	}
	if _, err := s.Spawn(ctx, "", nil); !errors.Is(err, ErrStrategy) {
		t.Errorf("Spawn on one_for_one = %v", err)
	}
	// A new run has New's children again, and not x.
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.StartChild(ctx, Spec{Name: "y", Child: newFake("y")}); !errors.Is(err, ErrNotRunning) {
		t.Errorf("StartChild after Stop = %v", err)
	}
	h.start()
	if got := h.states(); got != "a:running" {
		t.Errorf("children after a new Start: %s", got)
	}
	if st := s.Status(); st.Restarts != 1 {
		t.Errorf("supervisor restarts %d", st.Restarts)
	}
	s.Close()
	if err := s.Start(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close = %v", err)
	}
	if err := s.TerminateChild(ctx, "a"); !errors.Is(err, ErrClosed) {
		t.Errorf("TerminateChild after Close = %v", err)
	}
}

// TestSpawn: generated names, simple_one_for_one's forbidden calls, and
// its children stopped all at once.
func TestSpawn(t *testing.T) {
	var made []*fakeChild
	s, err := New("pool", SimpleOneForOne, nil, WithLogger(quietLogger()),
		WithTemplate(Template{New: func(name string, arg any) (Child, error) {
			if arg == "refuse" {
				return nil, errStartRefused
			}
			f := newFake(name)
			made = append(made, f)
			return f, nil
		}}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := testCtx(t, 10*time.Second)
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		name, err := s.Spawn(ctx, "", i)
		if err != nil || name != "pool-"+string(rune('1'+i)) {
			t.Fatalf("Spawn = %q, %v", name, err)
		}
	}
	if _, err := s.Spawn(ctx, "pool-1", nil); !errors.Is(err, ErrNameTaken) {
		t.Errorf("Spawn(dup) = %v", err)
	}
	if _, err := s.Spawn(ctx, "x", "refuse"); !errors.Is(err, ErrStartFailed) || !errors.Is(err, errStartRefused) {
		t.Errorf("Spawn(refused) = %v", err)
	}
	for _, call := range []error{
		s.StartChild(ctx, Spec{Name: "z", Child: newFake("z")}),
		s.RestartChild(ctx, "pool-1"),
		s.DeleteChild(ctx, "pool-1"),
	} {
		if !errors.Is(call, ErrStrategy) {
			t.Errorf("got %v, want ErrStrategy", call)
		}
	}
	if err := s.TerminateChild(ctx, "pool-2"); err != nil {
		t.Fatal(err)
	}
	if n := s.Count(); n.Specs != 2 || n.Active != 2 {
		t.Errorf("count %+v", n)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for _, f := range made {
		if f.running() {
			t.Errorf("%s still runs after Stop", f.name)
		}
	}
	if n := s.Count(); n.Specs != 0 {
		t.Errorf("spawned children outlive their run: %+v", n)
	}
}

// TestStopOrderAndDeadline: Stop stops in reverse order; a Stop whose
// context ends first returns ctx.Err() and the children are still all
// stopped.
func TestStopOrderAndDeadline(t *testing.T) {
	slow := &slowStopper{fakeChild: newFake("slow"), delay: 300 * time.Millisecond}
	a := newFake("a")
	s, err := New("sup", OneForOne, []Spec{{Name: "a", Child: a}, {Name: "slow", Child: slow, Shutdown: 10 * time.Second}},
		WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Start(testCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop = %v, want the context's error", err)
	}
	if err := s.Wait(testCtx(t, 5*time.Second)); err != nil {
		t.Fatalf("Wait = %v", err)
	}
	if a.running() || slow.running() {
		t.Fatal("children still run")
	}
	if !slow.sawDeadline.Load() {
		t.Error("the slow child's Stop did not get the Stop's deadline")
	}
}
