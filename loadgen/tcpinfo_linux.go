package loadgen

import (
	"net"

	"golang.org/x/sys/unix"
)

// retransmits reads the connection's total retransmit count from TCP_INFO.
// Right after connect, any retransmit was a SYN the server's kernel dropped
// (a full accept queue, typically); more by the first response byte means
// the request's own bytes were retransmitted.
func retransmits(nc net.Conn) uint8 {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return 0
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return 0
	}
	var n uint32
	raw.Control(func(fd uintptr) {
		info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		if err == nil {
			n = info.Total_retrans
		}
	})
	if n > 255 {
		n = 255
	}
	return uint8(n)
}
