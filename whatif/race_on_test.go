//go:build race

package whatif

// raceSlowdown scales time limits: the race detector slows the simulation ≈ 10×.
const raceSlowdown = 10
