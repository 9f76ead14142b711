package dns_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"golang.org/x/sys/unix"

	"github.com/kubectl-chaos/kubectl-chaos/internal/conntrack"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/redirect"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/redirect/rtest"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// child plays the agent: it applies an NXDOMAIN fault to the namespace and journal
// named in its environment, says "ready" and waits to be killed.
func child() int {
	return rtest.ChildApply(plan.Fault{Kind: plan.KindDNS, DNS: &plan.DNS{Patterns: []string{"*.fault.test"}, Error: "NXDOMAIN"}}, "exp-dnshttp-crash")
}

// ourFlows counts the conntrack entries of the child's fault (its mark) in the pod's
// namespace.
func ourFlows(t *testing.T, p *rtest.Pair) int {
	nsf, err := os.Open(p.PodNetns)
	if err != nil {
		t.Fatal(err)
	}
	defer nsf.Close()
	c, err := conntrack.Dial(int(nsf.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tg := rtest.ChildTarget
	m, err := c.OrigDsts(unix.IPPROTO_UDP, redirect.Mark("exp-dnshttp-crash", fmt.Sprintf("%s/%d", tg.ID(), p.PodInode)), false)
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

// TestKill9ThenSweep: after kill -9 of the agent its owned table is gone with it, but
// the conntrack entry of a UDP client that keeps its source port is still there (with
// the pod's own nat chain in the namespace, so NAT stays active); the sweep (journal
// recovery) deletes it, that client gets real answers within 1 s, and nothing of the
// test's is left (residue tool, filtered to its own objects).
func TestKill9ThenSweep(t *testing.T) {
	p := rtest.NewPair(t)
	upstream(t, p)
	// The pod's own NAT (a service mesh, say): with a nat chain of its own in the
	// namespace, NAT stays active after our table goes, and so does the NAT binding of
	// our conntrack entry.
	if out, err := exec.Command("ip", "netns", "exec", p.Pod, "nft", "add table inet kc_dnshttp_podnat; add chain inet kc_dnshttp_podnat out { type nat hook output priority 0; }").CombinedOutput(); err != nil {
		t.Fatalf("nft: %v %s", err, out)
	}
	mine := []string{p.Pod, p.Peer, "kubectl_chaos_dns", "exp-dnshttp", "dns.test"}
	before := rtest.Residue(t, mine...)
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", "KC_NETNS="+p.PodNetns, fmt.Sprintf("KC_INODE=%d", p.PodInode), "KC_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("agent child: %q", line)
	}
	ns4 := net.JoinHostPort(p.PeerIP.String(), "53")
	src := &net.UDPAddr{IP: p.PodIP, Port: 40053}
	ask := func(name string) (*mdns.Msg, error) {
		m, _, err := query(p, "udp", ns4, name, mdns.TypeA, false, src)
		return m, err
	}
	if m, err := ask("a.fault.test"); err != nil || m.Rcode != mdns.RcodeNameError {
		t.Fatalf("fault not active: %v %v", m, err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if tb := p.Tables(t); strings.Contains(tb, "kubectl_chaos") {
		t.Errorf("owned table outlived the agent: %s", tb)
	}
	stale := ourFlows(t, p)
	if stale == 0 {
		t.Errorf("no conntrack entry of the redirected client after kill -9: the sweep has nothing to prove")
	}
	// Same source port: the conntrack entry still redirects to the dead listener.
	stuck := 0
	for range 3 {
		if m, err := ask("real.example.com"); err != nil || addrs(m) != "192.0.2.10" {
			stuck++
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Measured on kernel 6.18: the stale entry no longer captures the client once the
	// table is gone (0 of 3 stuck), even with the pod's own nat chain; older kernels kept
	// sending it to the dead listener. Either way the entry must go.
	t.Logf("after kill -9: %d conntrack entries of ours; %d of 3 queries from port %d got no real answer", stale, stuck, src.Port)
	swept, err := journal.SweepWith(context.Background(), journal.SweepOptions{Dir: dir, Now: time.Now().Add(2 * time.Hour)})
	if err != nil || len(swept) != 1 {
		t.Fatalf("sweep: %+v %v", swept, err)
	}
	done := time.Now()
	var took time.Duration
	for {
		m, err := ask("real.example.com")
		if err == nil && addrs(m) == "192.0.2.10" {
			took = time.Since(done)
			break
		}
		if time.Since(done) > time.Second {
			t.Fatalf("no real answer within 1 s of the sweep: %v %v", m, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("real answer %s after the sweep (it removed %d objects)", took, len(swept[0].Removed))
	if n := ourFlows(t, p); n != 0 {
		t.Errorf("%d conntrack entries of ours left after the sweep", n)
	}
	if m, err := ask("a.fault.test"); err != nil || m.Rcode != mdns.RcodeSuccess {
		t.Errorf("after the sweep: %v %v", m, err)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*", "*.json")); len(files) > 0 {
		t.Errorf("journal left: %v", files)
	}
	if after := rtest.Residue(t, mine...); after != before {
		t.Errorf("residue changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
