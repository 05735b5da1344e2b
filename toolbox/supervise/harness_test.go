package supervise

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// kidSpec is a fake child of a harness: name, restart type, significance.
type kidSpec struct {
	name        string
	restart     RestartType
	significant bool
}

// harness is a supervisor of fake children on a fake clock.
type harness struct {
	t     *testing.T
	s     *Supervisor
	clk   *fakeClock
	fakes map[string]*fakeChild
	mark  int // events already seen by since
}

// newHarness makes (and does not start) a supervisor of fake children.
// Backoff is off unless opts set it.
func newHarness(t *testing.T, strategy Strategy, kids []kidSpec, opts ...Option) *harness {
	t.Helper()
	h := &harness{t: t, clk: newFakeClock(), fakes: map[string]*fakeChild{}}
	var specs []Spec
	for _, k := range kids {
		f := newFake(k.name)
		h.fakes[k.name] = f
		specs = append(specs, Spec{Name: k.name, Child: f, Restart: k.restart, Significant: k.significant})
	}
	base := []Option{WithBackoff(NoBackoff()), WithLogger(quietLogger()), WithEventRing(4096), withClock(h.clk)}
	s, err := New("sup", strategy, specs, append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	h.s = s
	t.Cleanup(func() { s.Close() })
	return h
}

// start starts the supervisor and forgets the start's events.
func (h *harness) start() *harness {
	h.t.Helper()
	if err := h.s.Start(testCtx(h.t, 10*time.Second)); err != nil {
		h.t.Fatalf("Start: %v", err)
	}
	h.since()
	return h
}

// crash makes child name exit (normally or not) and returns once the
// supervisor has handled it.
func (h *harness) crash(name string, normal bool) {
	h.t.Helper()
	exits := h.s.counters.exits.Load()
	if !h.fakes[name].exit(normal) {
		h.t.Fatalf("crash %s: it does not run", name)
	}
	waitFor(h.t, 10*time.Second, "the exit of "+name, func() bool { return h.s.counters.exits.Load() > exits })
	h.settle()
}

// settle returns once the supervisor has handled what reached it.
func (h *harness) settle() {
	h.t.Helper()
	if err := h.s.sync(testCtx(h.t, 10*time.Second)); err != nil && !errors.Is(err, ErrNotRunning) {
		h.t.Fatalf("sync: %v", err)
	}
}

// since returns the events since the last call, as "kind child; …".
func (h *harness) since() string {
	evs := h.s.Stats().Recent
	var parts []string
	for _, ev := range evs[h.mark:] {
		parts = append(parts, strings.TrimSpace(ev.Kind.String()+" "+ev.Child))
	}
	h.mark = len(evs)
	return strings.Join(parts, "; ")
}

// expect checks the events since the last call.
func (h *harness) expect(want string) {
	h.t.Helper()
	if got := h.since(); got != want {
		h.t.Errorf("events:\n got  %s\n want %s", got, want)
	}
}

// states returns "name:state …" of the children.
func (h *harness) states() string {
	var parts []string
	for _, c := range h.s.Children() {
		parts = append(parts, c.Name+":"+c.State.String())
	}
	return strings.Join(parts, " ")
}
