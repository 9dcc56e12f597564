//go:build !linux

package loadgen

import "net"

func synRetransmits(net.Conn) uint8 { return 0 }
