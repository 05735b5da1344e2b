// Package harness runs the comparative benchmark: every measurement is
// two worker processes, a server (echo service or publisher) and a
// client (caller or subscribers), started by the driver from the same
// binary. Workers talk to the driver in JSON lines on stdout and take
// orders on stdin ("start", then end of input to stop); each reports
// its own peak RSS (VmHWM) just before it exits.
//
// # Lifecycle
//
// Compare runs repetition 1 of every (variant, system), then repetition
// 2, and so on, and summarises each pair by the median over the
// repetitions. A measurement that fails is recorded with its error and
// the run goes on.
//
// The scale cases (Config.Scale, scale.go) run after the others, zmp
// only: the same two-process scheme (scale-serve, scale-drive) with
// one more order, "sample", on which the server samples its live
// resident set. Their medians per size are read for growth (Growths):
// each step's factor, exponent and marginal cost per unit.
//
// # Errors
//
// Compare returns an error only for a run that cannot start or was
// cancelled; failed measurements are in the Run.
package harness
