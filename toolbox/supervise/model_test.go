package supervise

import (
	"slices"
	"time"
)

// otpModel is an executable statement of the OTP supervisor rules, as
// the supervisor(3) documentation and the OTP design principles state
// them, kept apart from the implementation: given the specs, strategy,
// intensity and a schedule of exits, it yields the exact sequence of
// events (exits, restart decisions, stops, removals, starts, failed
// starts) and whether the supervisor fails or shuts down. Backoff is
// off: OTP restarts at once.
type otpModel struct {
	strategy Strategy
	maxR     int
	period   time.Duration
	auto     AutoShutdown
	kids     []*modelKid
	history  []time.Time // restart decisions
	retry    []*modelKid // failed restarts, tried again at once
	over     bool
	failed   bool
	out      []action
	bug      modelBug // a deliberate error, to show the property test catches it
}

type modelKid struct {
	name        string
	restart     RestartType
	significant bool
	state       int // kidDown, kidUp, kidPending
	failStarts  int
}

const (
	kidDown = iota
	kidUp
	kidPending
)

// modelBug names a deliberately wrong rule.
type modelBug int

const (
	noBug modelBug = iota
	bugTemporarySiblingRestarted
	bugIntensityAtMax
	bugOnlyRunningSiblingsRestarted
	bugTransientAlwaysRestarted
	bugStopInStartOrder
)

func (m *otpModel) emit(k EventKind, name string) { m.out = append(m.out, action{k, name}) }

func (m *otpModel) kid(name string) *modelKid {
	for _, k := range m.kids {
		if k.name == name {
			return k
		}
	}
	return nil
}

// running reports whether the named child runs.
func (m *otpModel) running(name string) bool {
	k := m.kid(name)
	return !m.over && k != nil && k.state == kidUp
}

// startAll is the supervisor's start: every child, in order.
func (m *otpModel) startAll() {
	for _, k := range m.kids {
		k.state = kidUp
		m.emit(EventStarted, k.name)
	}
}

// exit: child name ends by itself at time t; its next failNext starts
// will fail.
func (m *otpModel) exit(t time.Time, name string, normal bool, failNext int) {
	k := m.kid(name)
	k.failStarts = failNext
	k.state = kidDown
	m.emit(EventExited, name)
	again := k.restart == Permanent || (k.restart == Transient && (!normal || m.bug == bugTransientAlwaysRestarted))
	if again {
		m.restart(t, k)
		for len(m.retry) > 0 && !m.over {
			r := m.retry[0]
			m.retry = m.retry[1:]
			if r.state == kidPending {
				m.restart(t, r)
			}
		}
		return
	}
	if k.restart == Temporary || m.strategy == SimpleOneForOne {
		m.drop(k)
	}
	if !k.significant || m.auto == Never {
		return
	}
	if m.auto == AllSignificant && slices.ContainsFunc(m.kids, func(o *modelKid) bool {
		return o != k && o.significant && o.state != kidDown
	}) {
		return
	}
	m.emit(EventAutoShutdown, name)
	m.terminate(false)
}

func (m *otpModel) drop(k *modelKid) {
	m.kids = slices.DeleteFunc(m.kids, func(o *modelKid) bool { return o == k })
	m.emit(EventRemoved, k.name)
}

// restart is one restart decision for k at time t.
func (m *otpModel) restart(t time.Time, k *modelKid) {
	var recent []time.Time
	for _, r := range m.history {
		if t.Sub(r) < m.period {
			recent = append(recent, r)
		}
	}
	m.history = append(recent, t)
	limit := len(m.history) > m.maxR
	if m.bug == bugIntensityAtMax {
		limit = len(m.history) >= m.maxR && m.maxR > 0 || len(m.history) > m.maxR
	}
	if limit {
		m.emit(EventIntensity, k.name)
		m.terminate(true)
		return
	}
	m.emit(EventRestarting, k.name)
	var group []*modelKid
	switch m.strategy {
	case OneForAll:
		group = slices.Clone(m.kids)
	case RestForOne:
		group = slices.Clone(m.kids[slices.Index(m.kids, k):])
	default:
		group = []*modelKid{k}
	}
	// Terminate the group but k, last started first; temporary ones go.
	for i := len(group) - 1; i >= 0; i-- {
		o := group[i]
		wasUp := o.state == kidUp
		if o != k && wasUp {
			m.emit(EventStopped, o.name)
			o.state = kidDown
		}
		if o.restart == Temporary && m.bug != bugTemporarySiblingRestarted {
			m.drop(o)
			continue
		}
		if o == k || o.state == kidPending || wasUp || m.bug != bugOnlyRunningSiblingsRestarted {
			o.state = kidPending
		}
	}
	// Start the group in order; a failure is tried again as a restart.
	for _, o := range m.kids {
		if !slices.Contains(group, o) || o.state != kidPending {
			continue
		}
		if o.failStarts > 0 {
			o.failStarts--
			m.emit(EventStartFailed, o.name)
			m.retry = append(m.retry, o)
			return
		}
		o.state = kidUp
		m.emit(EventStarted, o.name)
	}
}

// terminate ends the supervisor: every running child is stopped, last
// started first (simple_one_for_one: all at once, reported in start
// order).
func (m *otpModel) terminate(failed bool) {
	order := slices.Clone(m.kids)
	if m.strategy != SimpleOneForOne && m.bug != bugStopInStartOrder {
		slices.Reverse(order)
	}
	for _, k := range order {
		if k.state == kidUp {
			m.emit(EventStopped, k.name)
		}
		k.state = kidDown
	}
	m.over, m.failed, m.retry = true, failed, nil
}
