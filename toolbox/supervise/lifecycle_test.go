package supervise

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
)

// TestOptionsAndSpecsValidated: every bad option or spec is refused
// with its sentinel.
func TestOptionsAndSpecsValidated(t *testing.T) {
	f := newFake("f")
	tmpl := Template{New: func(string, any) (Child, error) { return newFake("x"), nil }}
	cases := []struct {
		name     string
		strategy Strategy
		specs    []Spec
		opts     []Option
		want     error
	}{
		{"nil option", OneForOne, nil, []Option{nil}, ErrBadOption},
		{"negative intensity", OneForOne, nil, []Option{WithIntensity(-1, time.Second)}, ErrBadOption},
		{"zero period", OneForOne, nil, []Option{WithIntensity(1, 0)}, ErrBadOption},
		{"bad auto-shutdown", OneForOne, nil, []Option{WithAutoShutdown(7)}, ErrBadOption},
		{"template without New", SimpleOneForOne, nil, []Option{WithTemplate(Template{})}, ErrBadOption},
		{"template on one_for_one", OneForOne, nil, []Option{WithTemplate(tmpl)}, ErrBadOption},
		{"simple without template", SimpleOneForOne, nil, nil, ErrBadOption},
		{"zero start timeout", OneForOne, nil, []Option{WithStartTimeout(0)}, ErrBadOption},
		{"nil logger", OneForOne, nil, []Option{WithLogger(nil)}, ErrBadOption},
		{"nil event func", OneForOne, nil, []Option{WithEventFunc(nil)}, ErrBadOption},
		{"event queue without func", OneForOne, nil, []Option{WithEventQueue(4)}, ErrBadOption},
		{"zero event queue", OneForOne, nil, []Option{WithEventFunc(func(Event) {}), WithEventQueue(0)}, ErrBadOption},
		{"zero ring", OneForOne, nil, []Option{WithEventRing(0)}, ErrBadOption},
		{"bad strategy", Strategy(9), nil, nil, ErrBadOption},
		{"no name", OneForOne, []Spec{{Child: f}}, nil, ErrBadSpec},
		{"no child", OneForOne, []Spec{{Name: "a"}}, nil, ErrBadSpec},
		{"twice the name", OneForOne, []Spec{{Name: "a", Child: f}, {Name: "a", Child: newFake("g")}}, nil, ErrBadSpec},
		{"bad restart", OneForOne, []Spec{{Name: "a", Child: f, Restart: 5}}, nil, ErrBadSpec},
		{"negative shutdown", OneForOne, []Spec{{Name: "a", Child: f, Shutdown: -5}}, nil, ErrBadSpec},
		{"significant permanent", OneForOne, []Spec{{Name: "a", Child: f, Significant: true}}, []Option{WithAutoShutdown(AnySignificant)}, ErrBadSpec},
		{"significant under never", OneForOne, []Spec{{Name: "a", Child: f, Restart: Transient, Significant: true}}, nil, ErrBadSpec},
		{"specs on simple", SimpleOneForOne, []Spec{{Name: "a", Child: f}}, []Option{WithTemplate(tmpl)}, ErrBadSpec},
		{"significant permanent template", SimpleOneForOne, nil, []Option{WithAutoShutdown(AllSignificant), WithTemplate(Template{New: tmpl.New, Significant: true})}, ErrBadSpec},
	}
	for _, tc := range cases {
		if _, err := New("sup", tc.strategy, tc.specs, tc.opts...); !errors.Is(err, tc.want) {
			t.Errorf("%s: New = %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := New("", OneForOne, nil); !errors.Is(err, ErrBadOption) {
		t.Errorf("no name: %v", err)
	}
	s, err := New("ok", OneForOne, []Spec{{Name: "a", Child: f, Shutdown: BrutalKill}}, WithEventFunc(func(Event) {}), WithEventQueue(4))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	sp, _ := New("sup", OneForOne, nil)
	defer sp.Close()
	if err := sp.StartChild(context.Background(), Spec{Name: "a"}); !errors.Is(err, ErrBadSpec) {
		t.Errorf("StartChild(no child) = %v", err)
	}
}

// closeCounter is a fake child with a Close method.
type closeCounter struct {
	*fakeChild
	closes atomic.Int32
}

func (c *closeCounter) Close() error { c.closes.Add(1); return nil }

// TestCloseAndShutdown: Shutdown returns ctx.Err() when its context ends
// first and the shutdown goes on; Close waits for it, closes the
// children the supervisor owns, and is idempotent.
func TestCloseAndShutdown(t *testing.T) {
	slow := &slowStopper{fakeChild: newFake("slow"), delay: 400 * time.Millisecond}
	owned := &closeCounter{fakeChild: newFake("owned")}
	s, err := New("sup", OneForOne, []Spec{{Name: "owned", Child: owned}, {Name: "slow", Child: slow, Shutdown: 10 * time.Second}},
		WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	if st := s.Status(); st.State != core.StateNew {
		t.Errorf("state before Start %v", st.State)
	}
	if err := s.Wait(context.Background()); err != nil {
		t.Errorf("Wait before Start = %v", err)
	}
	if err := s.Start(testCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	dyn := &closeCounter{fakeChild: newFake("dyn")}
	if err := s.StartChild(testCtx(t, 5*time.Second), Spec{Name: "dyn", Child: dyn}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want the context's error", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if slow.running() || owned.running() || dyn.running() {
		t.Error("children run after Close")
	}
	if owned.closes.Load() != 1 || dyn.closes.Load() != 1 {
		t.Errorf("closes: owned %d, run-time child %d; want 1 and 1", owned.closes.Load(), dyn.closes.Load())
	}
	if err := s.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close = %v", err)
	}
}

// blockingStart is a fake child whose Start waits for its context.
type blockingStart struct{ *fakeChild }

func (b blockingStart) Start(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

// TestStopDuringStart: a Stop while children start makes Start give up
// (stopping those started) and return; the run ends.
func TestStopDuringStart(t *testing.T) {
	a := newFake("a")
	s, err := New("sup", OneForOne, []Spec{{Name: "a", Child: a}, {Name: "b", Child: blockingStart{newFake("b")}}}, WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	started := make(chan error, 1)
	go func() { started <- s.Start(testCtx(t, 10*time.Second)) }()
	waitFor(t, 10*time.Second, "b's start", func() bool { return s.Children()[1].State == ChildStarting })
	if err := s.Stop(testCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := <-started; !errors.Is(err, ErrStartFailed) || !errors.Is(err, context.Canceled) {
		t.Errorf("Start = %v", err)
	}
	if a.running() {
		t.Error("a still runs")
	}
	if err := s.Start(testCtx(t, time.Second)); err == nil {
		t.Error("Start with a child that never starts succeeded")
	}
}

// TestEventsBounded: a slow event function never holds the supervisor
// up: events beyond the queue are dropped and counted, and the ring
// keeps the last ones, counting those it drops.
func TestEventsBounded(t *testing.T) {
	release := make(chan struct{})
	var got atomic.Int32
	h := newHarness(t, OneForOne, []kidSpec{{name: "a"}}, WithIntensity(1000, time.Minute), WithEventRing(5),
		WithEventFunc(func(Event) { <-release; got.Add(1) }), WithEventQueue(2))
	defer close(release)
	h.start()
	for range 20 {
		h.crash("a", false)
	}
	st := h.s.Stats()
	total := int64(1 + 20*3) // started, then exited, restarting, started per crash
	if int64(len(st.Recent))+st.RingDropped != total || len(st.Recent) != 5 {
		t.Errorf("ring holds %d, dropped %d; want 5 of %d", len(st.Recent), st.RingDropped, total)
	}
	if st.EventsDropped < total-3 {
		t.Errorf("events dropped %d of %d with a queue of 2 and a stuck function", st.EventsDropped, total)
	}
	if last := st.Recent[4]; last.Kind != EventStarted || last.Restarts != 20 {
		t.Errorf("last event %+v", last)
	}
}

// TestAttach: the supervisor's Stats appear in the peer's zmp.stats,
// which `zmptool info` shows.
func TestAttach(t *testing.T) {
	reg := newTestRegistry(t)
	ctx := testCtx(t, 20*time.Second)
	host, err := core.NewPeer(ctx, "host", core.WithRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	h := newHarness(t, OneForOne, []kidSpec{{name: "a"}, {name: "b"}}).start()
	remove, err := h.s.Attach(host)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.Attach(host); !errors.Is(err, core.ErrStatsTaken) {
		t.Errorf("second Attach = %v", err)
	}
	h.crash("b", false)
	st, err := core.Call[core.Stats](ctx, host, core.IntrospectStats, nil, core.OnNode("host"))
	if err != nil {
		t.Fatal(err)
	}
	raw, ok := st.Extra["supervise.sup"]
	if !ok {
		t.Fatalf("no supervise.sup in %v", st.Extra)
	}
	var shown struct {
		Strategy string
		Restarts int
		Children map[string]struct {
			State    string
			Restarts int
			LastExit struct{ Normal bool } `json:"last_exit"`
		}
		Recent []string
	}
	if err := json.Unmarshal(raw, &shown); err != nil {
		t.Fatal(err)
	}
	b := shown.Children["b"]
	if shown.Strategy != "one_for_one" || shown.Restarts != 1 || len(shown.Children) != 2 ||
		b.Restarts != 1 || b.State != "running" || b.LastExit.Normal || len(shown.Recent) != 5 ||
		!strings.HasSuffix(shown.Recent[2], "exited b: fake crash") || !strings.HasSuffix(shown.Recent[4], "started b") {
		t.Errorf("zmp.stats shows %s", raw)
	}
	remove()
	remove()
	st, err = core.Call[core.Stats](ctx, host, core.IntrospectStats, nil, core.OnNode("host"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.Extra["supervise.sup"]; ok {
		t.Error("still in zmp.stats after remove")
	}
}
