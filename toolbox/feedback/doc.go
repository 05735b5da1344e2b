// Package feedback applies control theory to keep a zmp system stable
// under load: a controller measures a quantity of the system (latency,
// lag, a hit rate, a queue's wait), compares it with a set point, and
// turns a knob (a concurrency limit, a rate, a cache's size, a number
// of workers) to bring it there. docs/feedback.md explains the
// controllers and loops, how to choose among them, and what each was
// measured to do.
//
// Controllers:
//
//   - Controller is the synchronous shape of every controller: Update
//     takes a measurement and the time since the last call and returns
//     the actuation. ControllerFunc adapts a plain function, so users
//     plug in their own. A controller starts nothing and never sleeps;
//     the loop that calls it owns the timing.
//   - PID (NewPID): sample time, output limits, anti-windup
//     (conditional integration or back-calculation), a filtered
//     derivative on the measurement, set-point weighting, bumpless
//     changes of set point, gains and mode.
//   - RateLimiter (NewRateLimiter): a token bucket over
//     golang.org/x/time/rate whose rate a controller sets at run time.
//
// Concurrency limits (Limiter: admit while in flight < Limit(), report
// each completed request with OnSample): NewAIMD, NewVegas,
// NewGradient2, NewEnvoyGradient, and NewLatencyTarget, which holds a
// percentile of latency (the p99 by default) at a target by admission
// control. NewWindowed feeds a limiter one aggregated sample per window.
// The known flaws of the originals are fixed: Vegas' no-load round trip
// does not drift upward, Gradient2's limit does not grow under modest
// sustained overload, and the Envoy-style gradient measures its minimum
// round trip without shedding requests.
//
// On zmp's flows:
//
//   - ServerLimiter puts a Limiter in front of a provider's handlers as
//     a core.ServerInterceptor: the excess is shed at once with
//     core.CodeOverloaded, and partitions give classes of requests
//     guaranteed shares (batch is shed before interactive).
//   - CallLimiter limits a caller's calls in flight per service as a
//     core.CallInterceptor, and backs off when the service sheds.
//   - PublishPacer paces a publisher, holding its subscribers' drop rate
//     or lag at a set point; CallRate does the same for a caller's rate
//     of calls against the share the service sheds.
//   - HitRateLoop holds a cache's hit rate at a target by resizing it
//     (toolbox/cache's Cache, Memo and Server).
//   - WorkerLoop holds the queue wait of a toolbox/proxy Queue at a
//     target by starting and stopping workers (WorkerSet for in-process
//     ones, NodeSet for nodes of a core.Launcher, child processes
//     included).
//
// The ready-made loops are Steppers: Step(dt) runs one control window.
// A simulation calls it on virtual time; a Runner calls it on real time
// until Close.
//
// Simulation: Sim, QueueServer, CachePlant, WorkerPool and Trace are a
// deterministic simulator with a virtual clock, to design and test
// loops without real time, and to plot them (CSV, SVG). The SimulateXxx
// functions run the scenarios of docs/feedback.md and return a
// SimReport; `zmptool feedback sim --loop NAME --out trace.svg` runs
// them from the command line. The same seed gives the same bytes.
//
// # Lifecycle
//
// A PID is a value with no goroutines and nothing to close; it is not
// safe for concurrent use, so one loop owns it. Limiters, interceptors,
// pacers and loops are safe for concurrent use and start no goroutines;
// a Runner starts one, which Close stops and waits for. A WorkerSet or
// NodeSet owns the workers it started: Close stops them and waits. A
// wait for a token or a slot ends with its context.
//
// # Errors
//
// Constructors and setters given an unusable argument return an error
// wrapping the sentinel of their kind (ErrInvalidPIDOption,
// ErrInvalidRateOption, ErrInvalidLimitOption, ErrInvalidInterceptOption,
// ErrInvalidRateLoopOption, ErrHitRateConfig, ErrInvalidWorkerLoop,
// ErrRunnerConfig, ErrSimConfig) with the detail. A call refused by a
// CallLimiter fails with ErrLimited, one refused by a token bucket with
// ErrRateLimited; a request shed by a ServerLimiter reaches its caller
// as core.ErrOverloaded. Match errors with errors.Is.
package feedback
