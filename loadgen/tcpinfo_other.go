//go:build !linux

package loadgen

import "net"

func retransmits(net.Conn) uint8 { return 0 }

func socketQuiet(net.Conn) bool { return true }
