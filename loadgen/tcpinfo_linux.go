package loadgen

import (
	"net"

	"golang.org/x/sys/unix"
)

// synRetransmits reads TCP_INFO right after connect: any retransmit by then
// was a SYN the server's kernel dropped (a full accept queue, typically).
func synRetransmits(nc net.Conn) uint8 {
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
