//go:build race

package prom

// raceEnabled: the race detector's instrumentation allocates.
const raceEnabled = true
