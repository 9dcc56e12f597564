package loadgen

import (
	"net"
	"syscall"

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

// socketQuiet peeks at the socket without blocking: true when nothing is
// waiting to be read (no data, no EOF, no error).
func socketQuiet(nc net.Conn) bool {
	sc, ok := nc.(interface {
		SyscallConn() (syscall.RawConn, error)
	})
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	quiet := true
	var b [1]byte
	raw.Read(func(fd uintptr) bool {
		_, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		quiet = err == unix.EAGAIN
		return true // never wait
	})
	return quiet
}
