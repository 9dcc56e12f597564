package probe

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
)

// DiagListener is one listening TCP socket as sock_diag reports it: what
// `ss -lnt` prints. Queue is sk_ack_backlog (Recv-Q), Backlog is
// sk_max_ack_backlog (Send-Q): the backlog listen() asked for, capped at
// the net.core.somaxconn of the socket's network namespace at the time of
// the call. The queue holds up to Backlog+1 connections.
type DiagListener struct {
	Local   netip.AddrPort
	Queue   uint32
	Backlog uint32
	Inode   uint32
}

const (
	sockDiagByFamily = 20 // SOCK_DIAG_BY_FAMILY
	diagReqLen       = 56 // struct inet_diag_req_v2
	diagMsgLen       = 72 // struct inet_diag_msg
	maxDiagBytes     = 64 << 20
)

// ListTCPListeners asks the kernel (NETLINK_SOCK_DIAG, the interface ss
// uses) for the listening TCP sockets of family (unix.AF_INET or
// AF_INET6) in this process's network namespace. The dump is filtered to
// the LISTEN state by the kernel, so it costs the same on a host with a
// hundred thousand connections, unlike reading /proc/net/tcp.
func ListTCPListeners(family int) ([]DiagListener, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("sock_diag: %w", err)
	}
	defer unix.Close(fd)
	// A bounded wait: a kernel that never answers must not hang a probe.
	tv := unix.Timeval{Sec: 1}
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)

	req := make([]byte, unix.NLMSG_HDRLEN+diagReqLen)
	binary.NativeEndian.PutUint32(req[0:], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:], sockDiagByFamily)
	binary.NativeEndian.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(req[8:], 1) // seq
	r := req[unix.NLMSG_HDRLEN:]
	r[0] = byte(family)
	r[1] = unix.IPPROTO_TCP
	binary.NativeEndian.PutUint32(r[4:], 1<<tcpListenState) // idiag_states
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("sock_diag: send: %w", err)
	}
	var out []DiagListener
	buf := make([]byte, 1<<16)
	total := 0
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return nil, fmt.Errorf("sock_diag: receive: %w", err)
		}
		if total += n; total > maxDiagBytes {
			return nil, fmt.Errorf("sock_diag: more than %d MiB of listeners", maxDiagBytes>>20)
		}
		ls, done, err := ParseDiagMessages(buf[:n])
		if err != nil {
			return nil, err
		}
		out = append(out, ls...)
		if done {
			return out, nil
		}
	}
}

// ParseDiagMessages parses one datagram of a sock_diag dump: netlink
// messages each holding a struct inet_diag_msg. done is true at NLMSG_DONE;
// NLMSG_ERROR is an error.
func ParseDiagMessages(b []byte) (ls []DiagListener, done bool, err error) {
	for len(b) >= unix.NLMSG_HDRLEN {
		l := binary.NativeEndian.Uint32(b[0:])
		typ := binary.NativeEndian.Uint16(b[4:])
		if l < unix.NLMSG_HDRLEN || int(l) > len(b) {
			return ls, false, fmt.Errorf("sock_diag: message length %d of %d bytes", l, len(b))
		}
		body := b[unix.NLMSG_HDRLEN:l]
		switch typ {
		case unix.NLMSG_DONE:
			return ls, true, nil
		case unix.NLMSG_ERROR:
			if len(body) >= 4 {
				if e := int32(binary.NativeEndian.Uint32(body)); e != 0 {
					return ls, false, fmt.Errorf("sock_diag: %w", unix.Errno(-e))
				}
			}
			return ls, false, fmt.Errorf("sock_diag: error message")
		case sockDiagByFamily:
			if len(body) < diagMsgLen {
				return ls, false, fmt.Errorf("sock_diag: inet_diag_msg of %d bytes, want %d", len(body), diagMsgLen)
			}
			ls = append(ls, parseDiagMsg(body))
		}
		// Messages are aligned to 4 bytes.
		next := (int(l) + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1)
		if next > len(b) {
			break
		}
		b = b[next:]
	}
	return ls, false, nil
}

// parseDiagMsg reads struct inet_diag_msg: family, state, timer, retrans,
// then inet_diag_sockid (sport, dport big-endian; src, dst 16 bytes each;
// if; cookie[2]), then expires, rqueue, wqueue, uid, inode.
func parseDiagMsg(m []byte) DiagListener {
	port := binary.BigEndian.Uint16(m[4:])
	var addr netip.Addr
	if m[0] == unix.AF_INET6 {
		addr = netip.AddrFrom16([16]byte(m[8:24]))
	} else {
		addr = netip.AddrFrom4([4]byte(m[8:12]))
	}
	return DiagListener{
		Local:   netip.AddrPortFrom(addr, port),
		Queue:   binary.NativeEndian.Uint32(m[56:]),
		Backlog: binary.NativeEndian.Uint32(m[60:]),
		Inode:   binary.NativeEndian.Uint32(m[68:]),
	}
}

// Somaxconn is net.core.somaxconn in this process's network namespace.
func Somaxconn() (int, error) {
	b, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	if err != nil {
		return 0, err
	}
	var n int
	if _, err := fmt.Sscanf(string(b), "%d", &n); err != nil {
		return 0, fmt.Errorf("net.core.somaxconn %q: %v", b, err)
	}
	return n, nil
}
