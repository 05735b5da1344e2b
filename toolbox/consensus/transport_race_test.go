//go:build race

package consensus

const trRaceEnabled = true
