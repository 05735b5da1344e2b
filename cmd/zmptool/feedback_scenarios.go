package main

import (
	"github.com/gozmp/zmp/toolbox/feedback"
)

// simScenarios are the loops `zmptool feedback sim --loop` knows, each
// an adapter to one of toolbox/feedback's SimulateXxx functions.
func simScenarios() []simScenario {
	return []simScenario{
		{
			name:  "fixed",
			usage: "a fixed admission limit against none, load 0.5x → 3x → 0.5x of a 1,000 req/s backend",
			run: func(p simParams) (*feedback.SimReport, error) {
				return feedback.SimulateFixedLimit(feedback.FixedLimitSim{Seed: p.seed, Duration: p.duration})
			},
		},
	}
}
