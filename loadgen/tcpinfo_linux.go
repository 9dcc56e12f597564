package loadgen

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// tcpRetrans reads a socket's total retransmit count from TCP_INFO, capped
// at 255. Right after connect, any retransmit was a SYN the server's kernel
// dropped (a full accept queue, typically); more by the first response byte
// means the request's own bytes were retransmitted.
func tcpRetrans(fd int) uint8 {
	info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return 0
	}
	return uint8(min(info.Total_retrans, 255))
}

// retransmits is tcpRetrans for a Go connection.
func retransmits(nc net.Conn) uint8 {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return 0
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return 0
	}
	var n uint8
	raw.Control(func(fd uintptr) { n = tcpRetrans(int(fd)) })
	return n
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
