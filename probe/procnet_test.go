package probe

import (
	"net/netip"
	"os"
	"strings"
	"testing"
)

// Captured on this machine: a listener with 3 connections queued (ss -lnt
// said Recv-Q 3, Send-Q 7: the tx_queue column shows 0, not the backlog).
const procNetTCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   2: 0100007F:8AF5 00000000:0000 0A 00000000:00000003 00:00000000 00000000     0        0 795369 4 0000000017cfb64a 100 0 0 10 0
  30: 0100007F:8AF5 0100007F:C276 01 00000000:00000000 00:00000000 00000000     0        0 0 1 00000000ddc37594 20 0 0 10 -1
`

const procNetTCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000002 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12346 1 0000000000000000 100 0 0 10 0
`

func TestParseProcNetTCP(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []TCPRow
		err  bool
	}{
		{name: "ipv4", in: procNetTCP, want: []TCPRow{
			{Local: netip.MustParseAddrPort("127.0.0.1:35573"), State: 0x0A, RxQueue: 3, Inode: 795369},
			{Local: netip.MustParseAddrPort("127.0.0.1:35573"), State: 0x01},
		}},
		{name: "ipv6", in: procNetTCP6, want: []TCPRow{
			{Local: netip.MustParseAddrPort("[::1]:8080"), State: 0x0A, RxQueue: 2, Inode: 12345},
			{Local: netip.MustParseAddrPort("[::]:80"), State: 0x0A, Inode: 12346},
		}},
		{name: "empty", in: "", want: nil},
		{name: "header only", in: "  sl  local_address rem_address   st tx_queue rx_queue\n", want: nil},
		{name: "short row", in: "   2: 0100007F:8AF5 00000000:0000 0A\n", err: true},
		{name: "bad address", in: "   2: 0100007Z:8AF5 00000000:0000 0A 00000000:00000003 00:00000000 00000000 0 0 1\n", err: true},
		{name: "bad queues", in: "   2: 0100007F:8AF5 00000000:0000 0A 00000000-00000003 00:00000000 00000000 0 0 1\n", err: true},
		{name: "bad state", in: "   2: 0100007F:8AF5 00000000:0000 XYZ 00000000:00000003 00:00000000 00000000 0 0 1\n", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseProcNetTCP([]byte(tc.in))
			if tc.err {
				if err == nil {
					t.Fatalf("no error, rows %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%d rows %+v, want %d", len(got), got, len(tc.want))
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("row %d: %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestParseProcNetTCPLive(t *testing.T) {
	for _, path := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Skip(err)
		}
		if _, err := ParseProcNetTCP(b); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
}

func TestParseNetstat(t *testing.T) {
	good := "TcpExt: SyncookiesSent ListenOverflows ListenDrops\nTcpExt: 746 12 13\nIpExt: InNoRoutes\nIpExt: 0\n"
	m, err := ParseNetstat([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if m["TcpExt.ListenOverflows"] != 12 || m["TcpExt.ListenDrops"] != 13 || m["IpExt.InNoRoutes"] != 0 || len(m) != 4 {
		t.Errorf("got %v", m)
	}
	for _, bad := range []string{
		"TcpExt: A B\nTcpExt: 1\n",
		"TcpExt: A B\nIpExt: 1 2\n",
		"TcpExt: A\n",
		"TcpExt: A\nTcpExt: x\n",
		"no colon here\n",
	} {
		if _, err := ParseNetstat([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	live, err := os.ReadFile("/proc/net/netstat")
	if err != nil {
		t.Skip(err)
	}
	m, err = ParseNetstat(live)
	if err != nil {
		t.Fatalf("/proc/net/netstat: %v", err)
	}
	if _, ok := m["TcpExt.ListenOverflows"]; !ok {
		t.Errorf("/proc/net/netstat has no TcpExt.ListenOverflows: %v", strings.Join(keys(m), " "))
	}
}

func keys(m map[string]uint64) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	return k
}
