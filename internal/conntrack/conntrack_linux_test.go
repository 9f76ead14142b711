package conntrack_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kubectl-chaos/kubectl-chaos/internal/conntrack"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/redirect/rtest"
)

// TestOrigDstAndDeleteMark: a UDP flow NATed by an nft redirect is found by its reply
// tuple (with the address the client sent to), and deleted by its ct mark.
func TestOrigDstAndDeleteMark(t *testing.T) {
	p := rtest.NewPair(t)
	if out, err := runNft(p.Pod, `add table inet kc_dnshttp_ct
add chain inet kc_dnshttp_ct out { type nat hook output priority -100; }
add rule inet kc_dnshttp_ct out udp dport 5353 ct mark set 0x4b430042 redirect to :15353`); err != nil {
		t.Fatalf("nft: %v %s", err, out)
	}
	defer runNft(p.Pod, "delete table inet kc_dnshttp_ct")
	srv := rtest.ListenPacketIn(t, p.Pod, "udp4", "127.0.0.1:15353")
	d := rtest.DialIn(p.Pod)
	c, err := d(context.Background(), "udp", net.JoinHostPort(p.PeerIP.String(), "5353"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("hi"))
	buf := make([]byte, 16)
	srv.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, from, err := srv.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := openNs(p.PodNetns)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := conntrack.Dial(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer ct.Close()
	if n, err := ct.DeleteMark(0x4b430099); n != 0 || err != nil {
		t.Fatalf("DeleteMark(another mark) = %d, %v", n, err)
	}
	m, err := ct.OrigDsts(unix.IPPROTO_UDP, 0x4b430042, false)
	if dst := m[netip.MustParseAddrPort(from.String())]; err != nil || dst.String() != net.JoinHostPort(p.PeerIP.String(), "5353") {
		t.Fatalf("OrigDsts = %v, %v", m, err)
	}
	n, err := ct.DeleteMark(0x4b430042)
	if err != nil || n != 1 {
		t.Fatalf("DeleteMark = %d, %v", n, err)
	}
	if n, _ := ct.DeleteMark(0x4b430042); n != 0 {
		t.Fatalf("second DeleteMark found %d", n)
	}
}
