//go:build race

package analyze

// raceEnabled: the race detector slows everything several times over.
const raceEnabled = true
