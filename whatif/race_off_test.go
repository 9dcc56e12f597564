//go:build !race

package whatif

const raceSlowdown = 1
