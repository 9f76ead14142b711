package network

import (
	"sync"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// The counters the agent streams while a fault is active (fault.Counting) are measured
// against real traffic in namespaces the tests create (kc-ux-…): they stay 0 while
// nothing matches, and move with what a receiver saw of the traffic sent.

func counterMap(t *testing.T, act fault.Active) map[string]uint64 {
	t.Helper()
	c, ok := act.(fault.Counting)
	if !ok {
		t.Fatalf("%T has no counters", act)
	}
	cs, err := c.ReadCounters()
	if err != nil {
		t.Fatalf("reading counters: %v", err)
	}
	m := map[string]uint64{}
	for _, x := range cs {
		m[x.Name] = x.Value
	}
	return m
}

// idleTraffic reads the counters after a quiet second: none of the traffic counters
// may have moved.
func idleTraffic(t *testing.T, act fault.Active) {
	t.Helper()
	time.Sleep(time.Second)
	cs, err := act.(fault.Counting).ReadCounters()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Traffic && c.Value != 0 {
			t.Errorf("without traffic: %s = %d, want 0", c.Name, c.Value)
		}
	}
}

func TestCountersNFTLoss(t *testing.T) {
	tp := newTopoNamed(t, "ux")
	const port, n = 7610, 2000
	act, _ := apply(t, tp, plan.Network{Loss: &plan.Percent{Percent: 30}, LossBackend: BackendNFT,
		Filter: plan.Filter{Ports: []uint16{port}, Protocol: "udp"}})
	defer recoverClean(t, tp, act)
	idleTraffic(t, act)
	// Traffic the filter does not select moves nothing.
	udpOneWay(t, tp.target, tgt4, tp.client, cli4, port+1, 200)
	if m := counterMap(t, act); m["nft matched"] != 0 {
		t.Errorf("other port: nft matched %d, want 0", m["nft matched"])
	}
	r := udpOneWay(t, tp.target, tgt4, tp.client, cli4, port, n)
	m := counterMap(t, act)
	lost := uint64(r.sent - r.recv)
	t.Logf("sent %d, received %d; counters %v", r.sent, r.recv, m)
	if m["nft matched"] != n {
		t.Errorf("nft matched %d, want the %d datagrams sent", m["nft matched"], n)
	}
	// Every datagram the receiver missed is one the rule dropped (static neighbours, a
	// receive buffer past rmem_max: nothing else loses them).
	if d := m["nft dropped"]; d != lost {
		t.Errorf("nft dropped %d, receiver missed %d", d, lost)
	}
}

func TestCountersBandwidthQdisc(t *testing.T) {
	tp := newTopoNamed(t, "ux")
	const port, n = 7620, 600
	act, _ := apply(t, tp, plan.Network{Bandwidth: &plan.Bandwidth{Rate: 8_000_000},
		Filter: plan.Filter{Ports: []uint16{port}, Protocol: "udp"}})
	defer recoverClean(t, tp, act)
	idleTraffic(t, act)
	r := udpOneWay(t, tp.target, tgt4, tp.client, cli4, port, n)
	m := counterMap(t, act)
	t.Logf("sent %d, received %d; counters %v", r.sent, r.recv, m)
	// The faulty class (it shapes filtered traffic) saw exactly the datagrams sent:
	// what it sent arrived, what it dropped did not.
	if got := m["htb class sent"] + m["htb class dropped"]; got != uint64(r.sent) {
		t.Errorf("htb class sent %d + dropped %d = %d, want the %d datagrams sent", m["htb class sent"], m["htb class dropped"], got, r.sent)
	}
	if m["htb class sent"] != uint64(r.recv) {
		t.Errorf("htb class sent %d, receiver got %d", m["htb class sent"], r.recv)
	}
	if _, ok := m["htb sent"]; ok {
		t.Errorf("the steering htb is counted: %v", m)
	}
}

func TestCountersNFQueueHeld(t *testing.T) {
	tp := newTopoNamed(t, "ux")
	const port, n = 7630, 300
	act, _ := apply(t, tp, plan.Network{Delay: &plan.Delay{Latency: plan.Duration(400 * time.Millisecond)}, DelayBackend: BackendNFQueue,
		Filter: plan.Filter{Ports: []uint16{port}, Protocol: "udp"}})
	defer recoverClean(t, tp, act)
	idleTraffic(t, act)
	// While the datagrams are held, the gauge shows them; after the delay, none.
	var maxHeld uint64
	var mu sync.Mutex
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			cs, _ := act.(fault.Counting).ReadCounters()
			for _, c := range cs {
				if c.Name == "nfqueue held" {
					mu.Lock()
					maxHeld = max(maxHeld, c.Value)
					mu.Unlock()
				}
			}
		}
	}()
	r := udpOneWay(t, tp.target, tgt4, tp.client, cli4, port, n)
	close(stop)
	<-done
	time.Sleep(600 * time.Millisecond)
	m := counterMap(t, act)
	t.Logf("sent %d, received %d; most held at a read %d; counters %v", r.sent, r.recv, maxHeld, m)
	if m["nfqueue matched"] != n || m["nfqueue queued"] != n {
		t.Errorf("nfqueue matched %d, queued %d, want %d each", m["nfqueue matched"], m["nfqueue queued"], n)
	}
	// 300 datagrams sent in well under the 400 ms delay: a read during it sees most held.
	if maxHeld < n/2 {
		t.Errorf("most held at a read %d, want at least %d of the %d sent within the delay", maxHeld, n/2, n)
	}
	if m["nfqueue held"] != 0 {
		t.Errorf("held %d after the delay, want 0", m["nfqueue held"])
	}
}
