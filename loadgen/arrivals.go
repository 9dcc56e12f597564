package loadgen

import "time"

// Arrivals calls fn for every instant the schedule sends at, in order: its
// offset from the schedule's start, how many requests are due then, and
// the index of their request in the mix (-1: each picked by weight, as the
// dispatcher does; a Replay names its own). It stops early when fn returns
// false. The capacity model (package whatif) replays a profile's timeline
// through it without sending anything; a Poisson stage with Seed 0 draws a
// fresh seed, as a run would.
func (s Schedule) Arrivals(fn func(at time.Duration, n, mix int) bool) {
	it := s.iterator()
	defer func() {
		if st, ok := it.(iterStopper); ok {
			st.stop()
		}
	}()
	for {
		at, n, mix, ok := it.next()
		if !ok || !fn(at, n, mix) {
			return
		}
	}
}
