package supervise

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

// crashCase is one random case of the property test: a supervisor
// configuration and a schedule of exits.
type crashCase struct {
	seed     uint64
	strategy Strategy
	maxR     int
	period   time.Duration
	auto     AutoShutdown
	kids     []modelKid // name, restart type, significance
	steps    []crashStep
}

// crashStep: at time at, child kid exits (normally or not), and its next
// failNext starts will fail.
type crashStep struct {
	at       time.Duration
	kid      string
	normal   bool
	failNext int
}

func (c crashCase) String() string {
	s := fmt.Sprintf("seed %d: %s, intensity %d in %v, auto %s, children", c.seed, c.strategy, c.maxR, c.period, c.auto)
	for _, k := range c.kids {
		s += fmt.Sprintf(" %s(%s sig=%v)", k.name, k.restart, k.significant)
	}
	return s
}

// randomCase draws a case from seed.
func randomCase(seed uint64) crashCase {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	c := crashCase{
		seed: seed, strategy: Strategy(rng.IntN(4)), maxR: rng.IntN(5),
		period: time.Duration(1+rng.IntN(10)) * time.Second, auto: AutoShutdown(rng.IntN(3)),
	}
	n := 1 + rng.IntN(5)
	simpleType := RestartType(rng.IntN(3))
	simpleSig := c.auto != Never && simpleType != Permanent && rng.IntN(2) == 0
	for i := range n {
		k := modelKid{name: "c" + strconv.Itoa(i), restart: RestartType(rng.IntN(3))}
		k.significant = c.auto != Never && k.restart != Permanent && rng.IntN(3) == 0
		if c.strategy == SimpleOneForOne {
			k.restart, k.significant = simpleType, simpleSig
		}
		c.kids = append(c.kids, k)
	}
	var at time.Duration
	for range 5 + rng.IntN(20) {
		at += time.Duration(rng.IntN(3000)) * time.Millisecond
		st := crashStep{at: at, kid: c.kids[rng.IntN(n)].name, normal: rng.IntN(3) == 0}
		if rng.IntN(6) == 0 {
			st.failNext = 1 + rng.IntN(2)
		}
		c.steps = append(c.steps, st)
	}
	return c
}

// newModel makes the model of a case.
func (c crashCase) model(bug modelBug) *otpModel {
	m := &otpModel{strategy: c.strategy, maxR: c.maxR, period: c.period, auto: c.auto, bug: bug}
	for _, k := range c.kids {
		k := k
		m.kids = append(m.kids, &k)
	}
	return m
}

// runCase drives the real supervisor through c with fake children and
// a fake clock, and the model alongside; it returns a description of
// the first difference, or "".
func runCase(t testing.TB, c crashCase, bug modelBug) (diff string, m *otpModel) {
	clk := newFakeClock()
	start := clk.Now()
	fakes := map[string]*fakeChild{}
	for _, k := range c.kids {
		fakes[k.name] = newFake(k.name)
	}
	opts := []Option{
		WithIntensity(c.maxR, c.period), WithBackoff(NoBackoff()), WithAutoShutdown(c.auto),
		WithLogger(quietLogger()), WithEventRing(1 << 16), withClock(clk),
	}
	var specs []Spec
	if c.strategy == SimpleOneForOne {
		k0 := c.kids[0]
		opts = append(opts, WithTemplate(Template{
			New:     func(name string, _ any) (Child, error) { return fakes[name], nil },
			Restart: k0.restart, Significant: k0.significant,
		}))
	} else {
		for _, k := range c.kids {
			specs = append(specs, Spec{Name: k.name, Child: fakes[k.name], Restart: k.restart, Significant: k.significant})
		}
	}
	s, err := New("prop", c.strategy, specs, opts...)
	if err != nil {
		t.Fatalf("%v: New: %v", c, err)
	}
	defer s.Close()
	ctx := testCtx(t, time.Minute)
	if err := s.Start(ctx); err != nil {
		t.Fatalf("%v: Start: %v", c, err)
	}
	if c.strategy == SimpleOneForOne {
		for _, k := range c.kids {
			if _, err := s.Spawn(ctx, k.name, nil); err != nil {
				t.Fatalf("%v: Spawn %s: %v", c, k.name, err)
			}
		}
	}
	m = c.model(bug)
	m.startAll()
	for i, st := range c.steps {
		if m.over {
			break
		}
		if m.running(st.kid) != fakes[st.kid].running() {
			return fmt.Sprintf("step %d: model says %s running=%v, the fake says %v", i, st.kid, m.running(st.kid), !m.running(st.kid)), m
		}
		if !m.running(st.kid) {
			continue
		}
		clk.set(start.Add(st.at))
		fakes[st.kid].setFailStarts(st.failNext)
		exits := s.counters.exits.Load()
		fakes[st.kid].exit(st.normal)
		m.exit(start.Add(st.at), st.kid, st.normal, st.failNext)
		waitFor(t, 10*time.Second, "the exit to reach the supervisor", func() bool { return s.counters.exits.Load() > exits })
		if err := s.sync(ctx); err != nil && !errors.Is(err, ErrNotRunning) {
			t.Fatalf("sync: %v", err)
		}
	}
	if !m.over {
		m.terminate(false)
	}
	runErr := s.Stop(ctx)
	if runErr == nil {
		runErr = s.Wait(ctx)
	}
	got := actions(s.Stats().Recent)
	if !slices.Equal(got, m.out) {
		return fmt.Sprintf("events differ:\n got  %v\n want %v", got, m.out), m
	}
	if failed := errors.Is(runErr, ErrIntensity); failed != m.failed {
		return fmt.Sprintf("supervisor failed=%v (%v), model says %v", failed, runErr, m.failed), m
	}
	return "", m
}

// propertyCases is how many random cases TestPropertyOTPModel runs:
// ZMP_SUPERVISE_CASES overrides it.
func propertyCases(t *testing.T) int {
	n := 3000
	if testing.Short() {
		n = 300
	}
	if v := os.Getenv("ZMP_SUPERVISE_CASES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			t.Fatalf("ZMP_SUPERVISE_CASES=%q: %v", v, err)
		}
	}
	return n
}

// TestPropertyOTPModel drives the supervisor through thousands of random
// crash schedules and requires exactly the event sequence and outcome
// of the executable OTP model.
func TestPropertyOTPModel(t *testing.T) {
	n := propertyCases(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("%d cases from seed %d", n, seed)
	seen := map[EventKind]int{}
	var failed int
	for i := range n {
		c := randomCase(seed + uint64(i))
		diff, m := runCase(t, c, noBug)
		if diff != "" {
			t.Fatalf("%v\n%s", c, diff)
		}
		for _, a := range m.out {
			seen[a.kind]++
		}
		if m.failed {
			failed++
		}
	}
	t.Logf("events checked: %v; supervisors failed on intensity: %d", seen, failed)
	for _, k := range []EventKind{EventRestarting, EventStopped, EventRemoved, EventStartFailed, EventIntensity, EventAutoShutdown} {
		if seen[k] == 0 {
			t.Errorf("no %s event in %d cases: the generator misses a rule", k, n)
		}
	}
}

// TestPropertyCatchesWrongModels shows the property test can fail: each
// deliberately wrong variant of the model disagrees with the supervisor
// on some of a few hundred random cases.
func TestPropertyCatchesWrongModels(t *testing.T) {
	bugs := map[modelBug]string{
		bugTemporarySiblingRestarted:    "temporary sibling restarted",
		bugIntensityAtMax:               "intensity reached at MaxR",
		bugOnlyRunningSiblingsRestarted: "one_for_all skips stopped siblings",
		bugTransientAlwaysRestarted:     "transient restarted after a normal exit",
		bugStopInStartOrder:             "children stopped in start order",
	}
	for bug, what := range bugs {
		caught := 0
		for i := range 400 {
			if diff, _ := runCase(t, randomCase(uint64(i)), bug); diff != "" {
				caught++
			}
		}
		if caught == 0 {
			t.Errorf("model bug %q went unnoticed in 400 cases", what)
		}
		t.Logf("model bug %q: caught in %d of 400 cases", what, caught)
	}
}
