package loadgen

import (
	"math"
	"math/rand/v2"
)

// maxMix bounds a client's mix: Record.Mix is a uint16.
const maxMix = math.MaxUint16 + 1

// aliasTable picks an index with probability proportional to its weight in
// O(1) and without allocating (Vose's alias method): a uniform column, then
// a biased coin between the column and its alias. Built once per Client;
// read-only afterwards, so lanes share it and each brings its own RNG.
type aliasTable struct {
	cut   []uint64 // keep column i when a uniform uint64 is below cut[i]
	alias []uint16
}

func newAliasTable(reqs []Request) *aliasTable {
	n := len(reqs)
	var sum float64
	for _, r := range reqs {
		sum += r.Weight
	}
	scaled := make([]float64, n)
	var small, large []int
	for i, r := range reqs {
		scaled[i] = r.Weight / sum * float64(n)
		if scaled[i] < 1 {
			small = append(small, i)
		} else {
			large = append(large, i)
		}
	}
	t := &aliasTable{cut: make([]uint64, n), alias: make([]uint16, n)}
	for len(small) > 0 && len(large) > 0 {
		s, l := small[len(small)-1], large[len(large)-1]
		small = small[:len(small)-1]
		t.cut[s] = probCut(scaled[s])
		t.alias[s] = uint16(l)
		scaled[l] -= 1 - scaled[s]
		if scaled[l] < 1 {
			large = large[:len(large)-1]
			small = append(small, l)
		}
	}
	// What is left has probability 1 up to rounding: always keep it.
	for _, i := range append(small, large...) {
		t.cut[i] = math.MaxUint64
		t.alias[i] = uint16(i)
	}
	return t
}

// probCut maps a probability in [0, 1) to a threshold on a uniform uint64.
func probCut(p float64) uint64 {
	if p <= 0 {
		return 0
	}
	f := p * (1 << 64)
	if f >= 1<<64 {
		return math.MaxUint64 // p within rounding of 1
	}
	return uint64(f)
}

// pick draws one index.
func (t *aliasTable) pick(rng *rand.Rand) uint16 {
	i := rng.IntN(len(t.cut))
	if rng.Uint64() < t.cut[i] {
		return uint16(i)
	}
	return t.alias[i]
}

// newRNG returns a PCG generator seeded with seed, or randomly when 0.
func newRNG(seed uint64) *rand.Rand {
	if seed == 0 {
		seed = rand.Uint64()
	}
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}
