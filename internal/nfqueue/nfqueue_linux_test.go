//go:build linux

package nfqueue_test

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
	"golang.org/x/sys/unix"

	"github.com/kubectl-chaos/kubectl-chaos/internal/nfqueue"
	"github.com/kubectl-chaos/kubectl-chaos/internal/nfqueue/nfqtest"
)

const testQueue = 3117

// queueUDP installs, in the target netns, a prerouting rule sending UDP to port to
// testQueue with bypass (native queue expression, else xt NFQUEUE through nft_compat).
// The table is a plain (non-owned) one removed by t.Cleanup.
func queueUDP(t *testing.T, ns nfqtest.NS, port int) {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(ns.FD()))
	if err != nil {
		t.Fatal(err)
	}
	add := func(verdict expr.Any) error {
		tbl := c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: "kubectl_chaos_nfqtest"})
		ch := c.AddChain(&nftables.Chain{
			Name: "pre", Table: tbl, Type: nftables.ChainTypeFilter,
			Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityFilter,
		})
		c.AddRule(&nftables.Rule{Table: tbl, Chain: ch, Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_UDP}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.BigEndian.AppendUint16(nil, uint16(port))},
			verdict,
		}})
		return c.Flush()
	}
	err = add(&expr.Queue{Num: testQueue, Total: 1, Flag: expr.QueueFlagBypass})
	if err != nil {
		info := make([]byte, 8)
		binary.NativeEndian.PutUint16(info[0:], testQueue)
		binary.NativeEndian.PutUint16(info[2:], 1)
		binary.NativeEndian.PutUint16(info[4:], 1) // NFQ_FLAG_BYPASS
		ui := xt.Unknown(info)
		if err2 := add(&expr.Target{Name: "NFQUEUE", Rev: 3, Info: &ui}); err2 != nil {
			t.Fatalf("queue rule: native queue: %v; xt NFQUEUE: %v", err, err2)
		}
		t.Log("queue rule: xt NFQUEUE via nft_compat (no native queue expression)")
	} else {
		t.Log("queue rule: native nft queue expression")
	}
	t.Cleanup(func() {
		c.DelTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: "kubectl_chaos_nfqtest"})
		if err := c.Flush(); err != nil {
			t.Errorf("delete test table: %v", err)
		}
	})
}

func TestQueueReceiveAndBatchVerdict(t *testing.T) {
	topo := nfqtest.New(t)
	sink, err := nfqtest.NewUDPSink(topo.Target, topo.TargetIP4)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	queueUDP(t, topo.Target, sink.Addr.Port)

	q, err := nfqueue.Open(nfqueue.Config{
		NetNS: topo.Target.FD(), Queue: testQueue, MaxLen: 4096,
		Copy: nfqueue.CopyPacket, CopyRange: 28,
		Flags: nfqueue.FlagFailOpen | nfqueue.FlagGSO,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()

	const n = 20
	if _, _, err := nfqtest.UDPBlast(topo.Client, sink.Addr, 1000, n, 64); err != nil {
		t.Fatal(err)
	}
	var got []nfqueue.Packet
	_ = q.SetReadDeadline(time.Now().Add(5 * time.Second))
	for len(got) < n {
		if err := q.Receive(func(p *nfqueue.Packet) { got = append(got, *p) }); err != nil {
			t.Fatalf("after %d packets: %v", len(got), err)
		}
	}
	// Held, not delivered.
	time.Sleep(50 * time.Millisecond)
	if c := sink.Count(); c != 0 {
		t.Fatalf("sink got %d datagrams while all were held in the queue", c)
	}
	for i, p := range got {
		if p.HWProtocol != unix.ETH_P_IP || p.Hook != unix.NF_INET_PRE_ROUTING {
			t.Errorf("packet %d: protocol %#x hook %d, want IPv4 at prerouting", i, p.HWProtocol, p.Hook)
		}
		if p.Len != 20+8+64 || len(p.Payload) != 28 || p.Payload[0]>>4 != 4 {
			t.Errorf("packet %d: length %d, %d bytes copied (%x), want %d and the 28 header bytes of an IPv4 packet",
				i, p.Len, len(p.Payload), p.Payload, 20+8+64)
		}
		if i > 0 && p.ID <= got[i-1].ID {
			t.Errorf("packet ids not increasing: %d after %d", p.ID, got[i-1].ID)
		}
	}
	// Accept the first half with one batch verdict, then the rest.
	if err := q.VerdictBatch(got[n/2-1].ID, nfqueue.Accept); err != nil {
		t.Fatal(err)
	}
	waitCount(t, sink, n/2)
	time.Sleep(50 * time.Millisecond)
	if c := sink.Count(); c != n/2 {
		t.Fatalf("after a batch verdict up to packet %d: sink got %d, want %d", n/2, c, n/2)
	}
	if err := q.Verdict(got[n/2].ID, nfqueue.Accept); err != nil {
		t.Fatal(err)
	}
	if err := q.VerdictBatch(got[n-1].ID, nfqueue.Accept); err != nil {
		t.Fatal(err)
	}
	waitCount(t, sink, n)
}

func TestVerdictOnUnknownIDReportsError(t *testing.T) {
	topo := nfqtest.New(t)
	q, err := nfqueue.Open(nfqueue.Config{NetNS: topo.Target.FD(), Queue: testQueue})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if err := q.Verdict(12345, nfqueue.Accept); err != nil {
		t.Fatal(err)
	}
	_ = q.SetReadDeadline(time.Now().Add(2 * time.Second))
	err = q.Receive(func(*nfqueue.Packet) {})
	if !errors.Is(err, unix.ENOENT) {
		t.Fatalf("verdict on unknown packet id: got %v, want ENOENT from the kernel", err)
	}
}

func TestBindTwiceIsRefused(t *testing.T) {
	topo := nfqtest.New(t)
	q, err := nfqueue.Open(nfqueue.Config{NetNS: topo.Target.FD(), Queue: testQueue})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	q2, err := nfqueue.Open(nfqueue.Config{NetNS: topo.Target.FD(), Queue: testQueue})
	if err == nil {
		q2.Close()
		t.Fatal("second bind of the same queue in one netns succeeded")
	}
	// Another namespace has its own queues.
	other, err := nfqtest.NewNS()
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	q3, err := nfqueue.Open(nfqueue.Config{NetNS: other.FD(), Queue: testQueue})
	if err != nil {
		t.Fatalf("same queue number in another netns: %v", err)
	}
	q3.Close()
}

func TestBypassWithoutListener(t *testing.T) {
	topo := nfqtest.New(t)
	sink, err := nfqtest.NewUDPSink(topo.Target, topo.TargetIP4)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	queueUDP(t, topo.Target, sink.Addr.Port)
	if _, _, err := nfqtest.UDPBlast(topo.Client, sink.Addr, 1000, 50, 64); err != nil {
		t.Fatal(err)
	}
	waitCount(t, sink, 50)
}

func waitCount(t *testing.T, s *nfqtest.UDPSink, want int64) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for s.Count() < want && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if c := s.Count(); c != want {
		t.Fatalf("sink got %d datagrams, want %d", c, want)
	}
}

// TestFailOpen: with FlagFailOpen a full queue lets packets through instead of dropping
// them (the delay never blackholes under overload).
func TestFailOpen(t *testing.T) {
	for _, failOpen := range []bool{true, false} {
		t.Run(map[bool]string{true: "fail-open", false: "default"}[failOpen], func(t *testing.T) {
			topo := nfqtest.New(t)
			sink, err := nfqtest.NewUDPSink(topo.Target, topo.TargetIP4)
			if err != nil {
				t.Fatal(err)
			}
			defer sink.Close()
			queueUDP(t, topo.Target, sink.Addr.Port)
			cfg := nfqueue.Config{NetNS: topo.Target.FD(), Queue: testQueue, MaxLen: 4}
			if failOpen {
				cfg.Flags = nfqueue.FlagFailOpen
			}
			q, err := nfqueue.Open(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			if _, _, err := nfqtest.UDPBlast(topo.Client, sink.Addr, 1000, 20, 64); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
			want := int64(0)
			if failOpen {
				want = 16 // 4 held in the queue, the rest accepted by the kernel
			}
			if c := sink.Count(); c != want {
				t.Fatalf("with the queue (max 4) full and nobody reading: sink got %d of 20, want %d", c, want)
			}
		})
	}
}
