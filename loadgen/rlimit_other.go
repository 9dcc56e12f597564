//go:build !unix

package loadgen

// RaiseFDLimit has nothing to raise off Unix.
func RaiseFDLimit() (soft, hard uint64, err error) { return 0, 0, nil }
