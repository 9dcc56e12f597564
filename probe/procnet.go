package probe

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
)

// tcpListenState is TCP_LISTEN as /proc/net/tcp prints it ("0A").
const tcpListenState = 0x0A

// TCPRow is one socket of /proc/net/tcp or /proc/net/tcp6.
type TCPRow struct {
	Local   netip.AddrPort
	State   uint8
	TxQueue uint32 // for a listener, 0: the kernel prints write_seq − snd_una there, not the backlog
	RxQueue uint32 // for a listener, the accept queue's length (sk_ack_backlog)
	Inode   uint64
}

// ParseProcNetTCP parses /proc/net/tcp or /proc/net/tcp6 (get_tcp4_sock /
// get_tcp6_sock in the kernel). For a LISTEN row rx_queue is the accept
// queue's length, what `ss -lnt` shows as Recv-Q; tx_queue is *not* the
// backlog (ss's Send-Q comes from sock_diag's idiag_wqueue = sk_max_ack_backlog,
// which /proc/net/tcp does not print), so the backlog is read over netlink
// (diag_linux.go). Addresses are words in host byte order.
func ParseProcNetTCP(b []byte) ([]TCPRow, error) {
	var rows []TCPRow
	for n := 1; len(b) > 0; n++ {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		f := bytes.Fields(line)
		if len(f) == 0 || (n == 1 && string(f[0]) == "sl") {
			continue
		}
		if len(f) < 10 {
			return rows, fmt.Errorf("/proc/net/tcp line %d: %d fields, want at least 10", n, len(f))
		}
		local, err := parseHexAddrPort(f[1])
		if err != nil {
			return rows, fmt.Errorf("/proc/net/tcp line %d: local address: %v", n, err)
		}
		st, err := strconv.ParseUint(string(f[3]), 16, 8)
		if err != nil {
			return rows, fmt.Errorf("/proc/net/tcp line %d: state %q: %v", n, f[3], err)
		}
		txs, rxs, ok := bytes.Cut(f[4], []byte{':'})
		if !ok {
			return rows, fmt.Errorf("/proc/net/tcp line %d: queues %q: want tx:rx", n, f[4])
		}
		tx, err1 := strconv.ParseUint(string(txs), 16, 32)
		rx, err2 := strconv.ParseUint(string(rxs), 16, 32)
		if err1 != nil || err2 != nil {
			return rows, fmt.Errorf("/proc/net/tcp line %d: queues %q: want hex tx:rx", n, f[4])
		}
		inode, err := strconv.ParseUint(string(f[9]), 10, 64)
		if err != nil {
			return rows, fmt.Errorf("/proc/net/tcp line %d: inode %q: %v", n, f[9], err)
		}
		rows = append(rows, TCPRow{Local: local, State: uint8(st), TxQueue: uint32(tx), RxQueue: uint32(rx), Inode: inode})
	}
	return rows, nil
}

// parseHexAddrPort reads "0100007F:1F90" (IPv4) or 32 hex digits:PORT
// (IPv6): each 32-bit word as the kernel printed it with %08X from memory
// in host byte order.
func parseHexAddrPort(b []byte) (netip.AddrPort, error) {
	a, p, ok := bytes.Cut(b, []byte{':'})
	if !ok || len(p) != 4 || (len(a) != 8 && len(a) != 32) {
		return netip.AddrPort{}, fmt.Errorf("%q: want HEXADDR:PORT", b)
	}
	port, err := strconv.ParseUint(string(p), 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: port: %v", b, err)
	}
	raw := make([]byte, len(a)/2)
	if _, err := hex.Decode(raw, a); err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: %v", b, err)
	}
	// Each word was printed as a number: its bytes in memory are the
	// number in host order.
	ip := make([]byte, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(ip[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	addr, _ := netip.AddrFromSlice(ip)
	return netip.AddrPortFrom(addr, uint16(port)), nil
}

// ParseNetstat parses /proc/net/netstat (or /proc/net/snmp): pairs of
// lines "TcpExt: Name1 Name2 …" / "TcpExt: 1 2 …". The result maps
// "TcpExt.ListenOverflows" to its value.
func ParseNetstat(b []byte) (map[string]uint64, error) {
	m := map[string]uint64{}
	var names [][]byte
	var prefix []byte
	for n := 1; len(b) > 0; n++ {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		p, rest, ok := bytes.Cut(line, []byte{':'})
		if !ok || len(p) == 0 {
			return m, fmt.Errorf("/proc/net/netstat line %d: want \"Prefix: …\"", n)
		}
		f := bytes.Fields(rest)
		if names == nil {
			names, prefix = f, p
			continue
		}
		if !bytes.Equal(p, prefix) || len(f) != len(names) {
			return m, fmt.Errorf("/proc/net/netstat line %d: %s values do not match the %s header (%d vs %d)", n, p, prefix, len(f), len(names))
		}
		for i, v := range f {
			x, err := strconv.ParseInt(string(v), 10, 64) // snmp's MaxConn is -1
			if err != nil {
				return m, fmt.Errorf("/proc/net/netstat line %d: %s %q: %v", n, names[i], v, err)
			}
			m[string(prefix)+"."+string(names[i])] = uint64(x)
		}
		names = nil
	}
	if names != nil {
		return m, fmt.Errorf("/proc/net/netstat: %s header without values", prefix)
	}
	return m, nil
}
