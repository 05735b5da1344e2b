// Package feedback applies control theory to keep a zmp system stable
// under load: a controller measures a quantity of the system (latency,
// lag, a hit rate, a queue's wait), compares it with a set point, and
// turns a knob (a concurrency limit, a rate, a cache's size, a number
// of workers) to bring it there. docs/feedback.md explains the
// controllers and loops and how to choose among them.
//
// This increment provides the building blocks:
//
//   - Controller is the synchronous shape of every controller: Update
//     takes a measurement and the time since the last call and returns
//     the actuation. ControllerFunc adapts a plain function, so users
//     plug in their own. A controller starts nothing and never sleeps;
//     the loop that calls it owns the timing.
//
//   - PID (NewPID) is a proportional-integral-derivative controller
//     with a sample time, output limits, anti-windup (conditional
//     integration or back-calculation), the derivative taken on the
//     measurement through a first-order filter, set-point weighting,
//     bumpless changes of set point and gains, and bumpless transfer
//     between manual and automatic mode.
//
//   - RateLimiter (NewRateLimiter) is a token bucket, over
//     golang.org/x/time/rate, whose rate a controller sets at run time
//     within bounds (SetRate), for publishers and callers that must
//     hold a lag or a drop rate at a set point; it counts what it
//     admits, makes wait and refuses.
//
//   - Limiter is an adaptive concurrency limit: admit while in flight <
//     Limit(), and report each completed request with OnSample. NewAIMD,
//     NewVegas and NewGradient2 implement it, with Vegas' upward drift of
//     its no-load RTT and Gradient2's growth under sustained overload
//     fixed.
//
//   - Sim, QueueServer, CachePlant, WorkerPool and Trace are a
//     deterministic simulator with a virtual clock, to design and test
//     loops without real time, and to plot them (CSV, SVG).
//
// To come: an Envoy-style gradient limiter; the limiters as server and
// call interceptors; ready-made loops holding a service's p99 latency, a
// cache's hit rate and a queue's wait at their targets; `zmptool
// feedback sim`. docs/feedback.md tracks what has landed.
//
// # Lifecycle
//
// A PID is a value with no goroutines and nothing to close; it is not
// safe for concurrent use, so one loop owns it. A RateLimiter is safe
// for concurrent use, starts no goroutines and needs no Close; a Wait
// in progress ends with its context.
//
// # Errors
//
// Constructors and setters given an unusable argument return an error
// wrapping ErrInvalidPIDOption or ErrInvalidRateOption, with the
// detail. RateLimiter.Wait returns an error wrapping ErrRateLimited,
// and the context's error when the context ended, when no token can be
// had in time; the token is then not taken. Match errors with
// errors.Is.
package feedback
