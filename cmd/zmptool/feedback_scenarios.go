package main

import (
	"github.com/gozmp/zmp/toolbox/feedback"
)

// simScenarios are the loops `zmptool feedback sim --loop` knows, each
// an adapter to one of toolbox/feedback's SimulateXxx functions.
func simScenarios() []simScenario {
	return []simScenario{
		{
			name:  "pid",
			usage: "a PI controller on a first-order plant with a saturating actuator, anti-windup on and off",
			run: func(p simParams) (*feedback.SimReport, error) {
				return feedback.SimulatePID(feedback.PIDSim{Seed: p.seed, Duration: p.duration})
			},
		},
		{
			name:  "fixed",
			usage: "a fixed admission limit against none, load 0.5x → 3x → 0.5x of a 1,000 req/s backend",
			run: func(p simParams) (*feedback.SimReport, error) {
				return feedback.SimulateFixedLimit(feedback.FixedLimitSim{Seed: p.seed, Duration: p.duration})
			},
		},
		{
			name:     "latency",
			usage:    "p99 held at 100 ms by admission control (LatencyTarget) beside the Envoy-style, AIMD, Vegas and Gradient2 limiters and no limit, load 0.5x → 3x → 0.5x",
			limiters: true,
			run: func(p simParams) (*feedback.SimReport, error) {
				cfg, err := latencySim(p)
				if err != nil {
					return nil, err
				}
				return feedback.SimulateLatency(cfg)
			},
		},
		{
			name:     "latency-drift",
			usage:    "the same limiters for 11 minutes at 1.2x load: does the limit drift?",
			limiters: true,
			run: func(p simParams) (*feedback.SimReport, error) {
				cfg, err := latencySim(p)
				if err != nil {
					return nil, err
				}
				return feedback.SimulateLatencyDrift(cfg)
			},
		},
		{
			name:  "hitrate",
			usage: "a cache's hit rate held at 80 % by resizing it while its working set doubles and halves, beside a fixed size",
			run: func(p simParams) (*feedback.SimReport, error) {
				return feedback.SimulateHitRate(feedback.HitRateSim{Seed: p.seed, Duration: p.duration})
			},
		},
		{
			name:  "workers",
			usage: "queue wait held at 20 ms by adding and removing workers, load 0.5x → 1.5x → 0.8x, beside a fixed pool",
			run: func(p simParams) (*feedback.SimReport, error) {
				cfg := feedback.WorkersSim{Seed: p.seed}
				if p.duration > 0 { // three load steps, each settling for a quarter of its length
					cfg.StepLength = p.duration / 3
					cfg.Settle = cfg.StepLength / 4
				}
				return feedback.SimulateWorkers(cfg)
			},
		},
		{
			name:  "pubrate",
			usage: "a publisher paced to hold its slow subscriber's drop rate at 1 % as the subscriber's capacity changes, beside an unpaced one",
			run: func(p simParams) (*feedback.SimReport, error) {
				return feedback.SimulatePublishRate(feedback.PublishRateSim{Seed: p.seed, Duration: p.duration})
			},
		},
		{
			name:  "callrate",
			usage: "a caller's rate held where the service sheds 1 % of its calls as the service's capacity changes, beside a caller at full demand",
			run: func(p simParams) (*feedback.SimReport, error) {
				return feedback.SimulateCallRate(feedback.CallRateSim{Seed: p.seed, Duration: p.duration})
			},
		},
	}
}

// latencySim is the configuration of the latency scenarios for p:
// --limiters picks the limiters by name, and --duration scales the
// default load phases.
func latencySim(p simParams) (feedback.LatencySim, error) {
	cfg := feedback.LatencySim{Seed: p.seed, Duration: p.duration}
	if len(p.limiters) > 0 {
		ls, err := feedback.LatencyLimiters(0, p.limiters...)
		if err != nil {
			return cfg, err
		}
		cfg.Limiters = ls
	}
	return cfg, nil
}
