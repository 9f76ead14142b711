package app

import (
	"context"
	"strings"
	"testing"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// badInputs are malformed invocations of every verb. want is '|'-separated: each part
// must be in the error (the flag or argument, and what it accepts).
var badInputs = []struct {
	want string
	args []string
}{
	{"--latency|(0, 1m]", []string{"network", "delay", "deploy/web", "--latency", "0"}},
	{"--latency|(0, 1m]", []string{"network", "delay", "deploy/web", "--latency", "-5ms"}},
	{"--latency|(0, 1m]", []string{"network", "delay", "deploy/web", "--latency", "2m"}},
	{"--latency|at most 1m", []string{"network", "delay", "deploy/web", "--latency", "abc"}},
	{"--jitter|[0, --latency", []string{"network", "delay", "deploy/web", "--latency", "10ms", "--jitter", "20ms"}},
	{"--jitter|[0, --latency", []string{"network", "delay", "deploy/web", "--latency", "10ms", "--jitter", "-1ms"}},
	{"--correlation|[0, 100]", []string{"network", "delay", "deploy/web", "--latency", "10ms", "--correlation", "101"}},
	{"--correlation|[0, 100]", []string{"network", "delay", "deploy/web", "--latency", "10ms", "--correlation", "-1"}},
	{"--delay-backend|auto, netem or nfqueue", []string{"network", "delay", "deploy/web", "--latency", "10ms", "--delay-backend", "foo"}},
	{"--port|[1, 65535]", []string{"network", "delay", "deploy/web", "--latency", "10ms", "--port", "0"}},
	{"--port|[1, 65535]", []string{"network", "delay", "deploy/web", "--latency", "10ms", "--port", "70000"}},
	{"--port|1-65535", []string{"network", "delay", "deploy/web", "--latency", "10ms", "--port", "-1"}},
	{"--protocol|tcp, udp or icmp", []string{"network", "delay", "deploy/web", "--latency", "10ms", "--protocol", "sctp"}},
	{"--cidr|CIDR like", []string{"network", "delay", "deploy/web", "--latency", "10ms", "--cidr", "10.0.0.300/8"}},
	{"--cidr|needs a mask", []string{"network", "delay", "deploy/web", "--latency", "10ms", "--cidr", "foo"}},
	{"--cidr|CIDR like", []string{"network", "delay", "deploy/web", "--latency", "10ms", "--cidr", "10.0.0.0/33"}},
	{"--interface|1-15 characters", []string{"network", "delay", "deploy/web", "--latency", "10ms", "--interface", "eth0:1"}},
	{"--interface|1-15 characters", []string{"network", "delay", "deploy/web", "--latency", "10ms", "--interface", "abcdefghijklmnop"}},
	{"--interface|1-15 characters", []string{"network", "delay", "deploy/web", "--latency", "10ms", "--interface", "a/b"}},
	{"--interface|empty value|1-15 characters", []string{"network", "delay", "deploy/web", "--latency", "10ms", "--interface", ""}},
	{"--latency|at most 1m", []string{"network", "delay", "deploy/web"}},
	{"--port|more than 512", []string{"network", "delay", "deploy/web", "--latency", "1ms", "--port", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20", "--cidr", "10.0.0.0/8,10.1.0.0/16,10.2.0.0/16,10.3.0.0/16,10.4.0.0/16,10.5.0.0/16,10.6.0.0/16,10.7.0.0/16,10.8.0.0/16,10.9.0.0/16,10.10.0.0/16,10.11.0.0/16,10.12.0.0/16,10.13.0.0/16,10.14.0.0/16,10.15.0.0/16,10.16.0.0/16,10.17.0.0/16,10.18.0.0/16,10.19.0.0/16,10.20.0.0/16,10.21.0.0/16,10.22.0.0/16,10.23.0.0/16,10.24.0.0/16,10.25.0.0/16,10.26.0.0/16"}},
	{"--percent|(0, 100]", []string{"network", "loss", "deploy/web", "--percent", "0"}},
	{"--percent|(0, 100]", []string{"network", "loss", "deploy/web", "--percent", "101"}},
	{"--percent|(0, 100]", []string{"network", "loss", "deploy/web", "--percent", "-1"}},
	{"--percent|(0, 100]", []string{"network", "loss", "deploy/web", "--percent", "NaN"}},
	{"--percent|(0, 100]", []string{"network", "loss", "deploy/web", "--percent", "abc"}},
	{"--percent|(0, 100]", []string{"network", "loss", "deploy/web", "--percent", "Inf"}},
	{"--correlation|[0, 100]", []string{"network", "loss", "deploy/web", "--percent", "5", "--correlation", "200"}},
	{"--loss-backend|auto, netem or nft", []string{"network", "loss", "deploy/web", "--percent", "5", "--loss-backend", "nfqueue"}},
	{"--correlation|--loss-backend nft", []string{"network", "loss", "deploy/web", "--percent", "5", "--loss-backend", "nft", "--correlation", "10"}},
	{"--percent|(0, 100]", []string{"network", "loss", "deploy/web"}},
	{"--percent|(0, 100]", []string{"network", "duplicate", "deploy/web", "--percent", "0"}},
	{"--duplicate-backend|auto, netem or nft", []string{"network", "duplicate", "deploy/web", "--percent", "5", "--duplicate-backend", "nfqueue"}},
	{"--percent|(0, 100]", []string{"network", "corrupt", "deploy/web", "--percent", "150"}},
	{"--corrupt-backend|auto, netem or nfqueue", []string{"network", "corrupt", "deploy/web", "--percent", "5", "--corrupt-backend", "nft"}},
	{"--percent|(0, 100]", []string{"network", "reorder", "deploy/web", "--percent", "0"}},
	{"--latency|(0, 1m]", []string{"network", "reorder", "deploy/web", "--percent", "10", "--latency", "2m"}},
	{"--reorder-backend|auto, netem or nfqueue", []string{"network", "reorder", "deploy/web", "--percent", "10", "--reorder-backend", "x"}},
	{"--gap|[0, 1000000]", []string{"network", "reorder", "deploy/web", "--percent", "10", "--gap", "2000000"}},
	{"--gap|0-1000000", []string{"network", "reorder", "deploy/web", "--percent", "10", "--gap", "-1"}},
	{"--rate|[8bit, 100gbit]", []string{"network", "bandwidth", "deploy/web", "--rate", "0"}},
	{"--rate|[8bit, 100gbit]", []string{"network", "bandwidth", "deploy/web", "--rate", "1bit"}},
	{"--rate|[8bit, 100gbit]", []string{"network", "bandwidth", "deploy/web", "--rate", "200gbit"}},
	{"--rate|[8bit, 100gbit]", []string{"network", "bandwidth", "deploy/web", "--rate", "abc"}},
	{"--rate|[8bit, 100gbit]", []string{"network", "bandwidth", "deploy/web", "--rate", "-1mbit"}},
	{"--limit|between 1 byte and 4gb", []string{"network", "bandwidth", "deploy/web", "--rate", "1mbit", "--limit", "-1"}},
	{"--limit|between 1 byte and 4gb", []string{"network", "bandwidth", "deploy/web", "--rate", "1mbit", "--limit", "abc"}},
	{"--buffer|between 1 byte and 4gb", []string{"network", "bandwidth", "deploy/web", "--rate", "1mbit", "--buffer", "foo"}},
	{"--buffer|between 1 byte and 4gb", []string{"network", "bandwidth", "deploy/web", "--rate", "1mbit", "--buffer", "100tb"}},
	{"--rate|8bit to 100gbit", []string{"network", "bandwidth", "deploy/web"}},
	{"--direction|to, from or both", []string{"network", "partition", "deploy/web", "--cidr", "10.0.0.0/8", "--direction", "sideways"}},
	{"--to|pod/NAME", []string{"network", "partition", "deploy/web", "--to", ""}},
	{"--cidr|needs a mask", []string{"network", "partition", "deploy/web", "--cidr", "bad"}},
	{"--port|[1, 65535]", []string{"network", "partition", "deploy/web", "--cidr", "10.0.0.0/8", "--port", "0"}},
	{"--to|accepted: pod", []string{"network", "partition", "deploy/web", "--to", "widget/x"}},
	{"--to|label selector", []string{"network", "partition", "deploy/web", "--to", "app==,="}},
	{"--to|accepted: pod", []string{"network", "delay", "deploy/web", "--latency", "10ms", "--to", "widget/x"}},
	{"--to|empty label selector", []string{"network", "delay", "deploy/web", "--latency", "10ms", "--to", "-l "}},
	{"--to|empty peer", []string{"network", "loss", "deploy/web", "--percent", "5", "--to", ""}},
	{"--to|resolved to no IP address", []string{"network", "delay", "deploy/web", "--latency", "10ms", "--to", "app=nothing"}},
	{"--to|resolved to no IP address", []string{"network", "bandwidth", "deploy/web", "--rate", "1mbit", "--to", "-l app=nothing"}},
	{"--external|does not resolve", []string{"network", "delay", "deploy/web", "--latency", "10ms", "--external", "no-such-host.invalid"}},
	{"--external|without a port|--port", []string{"network", "delay", "deploy/web", "--latency", "10ms", "--external", "example.com:443"}},
	{"--external|without a port", []string{"network", "loss", "deploy/web", "--percent", "5", "--external", "[2001:db8::1]:80"}},
	{"--external|not a URL", []string{"network", "bandwidth", "deploy/web", "--rate", "1mbit", "--external", "http://example.com"}},
	{"--external|not a host name", []string{"network", "corrupt", "deploy/web", "--percent", "5", "--external", "bad_host!"}},
	{"--external|not a CIDR", []string{"network", "duplicate", "deploy/web", "--percent", "5", "--external", "10.0.0.0/40"}},
	{"--external|empty value", []string{"network", "partition", "deploy/web", "--external", ""}},
	{"--direction|loss and partition only", []string{"network", "delay", "deploy/web", "--latency", "10ms", "--direction", "both"}},
	{"--direction|loss and partition only", []string{"network", "bandwidth", "deploy/web", "--rate", "1mbit", "--direction", "from"}},
	{"--direction|to, from or both", []string{"network", "loss", "deploy/web", "--percent", "5", "--direction", "sideways"}},
	{"--pattern|e.g.", []string{"network", "dns", "deploy/web", "--error", "SERVFAIL"}},
	{"--pattern|e.g.", []string{"network", "dns", "deploy/web", "--pattern", "", "--error", "SERVFAIL"}},
	{"exactly one of --error, --random, --ip and --delay", []string{"network", "dns", "deploy/web", "--pattern", "example.com"}},
	{"exactly one of --error, --random, --ip and --delay", []string{"network", "dns", "deploy/web", "--pattern", "example.com", "--error", "SERVFAIL", "--random"}},
	{"--error|SERVFAIL, NXDOMAIN, REFUSED", []string{"network", "dns", "deploy/web", "--pattern", "example.com", "--error", "FOO"}},
	{"--ip|IPv4 or IPv6", []string{"network", "dns", "deploy/web", "--pattern", "example.com", "--ip", "999.1.1.1"}},
	{"exactly one of --error, --random, --ip and --delay", []string{"network", "dns", "deploy/web", "--pattern", "example.com", "--delay", "0s"}},
	{"--delay|(0, 1m0s]", []string{"network", "dns", "deploy/web", "--pattern", "example.com", "--delay", "2m"}},
	{"--ip|at most 16", []string{"network", "dns", "deploy/web", "--pattern", "example.com", "--ip", "1.1.1.1,1.1.1.2,1.1.1.3,1.1.1.4,1.1.1.5,1.1.1.6,1.1.1.7,1.1.1.8,1.1.1.9,1.1.1.10,1.1.1.11,1.1.1.12,1.1.1.13,1.1.1.14,1.1.1.15,1.1.1.16,1.1.1.17"}},
	{"--pattern|63 characters", []string{"network", "dns", "deploy/web", "--pattern", strings.Repeat("a", 64) + ".com", "--error", "SERVFAIL"}},
	{"--pattern|letters, digits", []string{"network", "dns", "deploy/web", "--pattern", "a b.com", "--error", "SERVFAIL"}},
	{"--pattern|at most 64", []string{"network", "dns", "deploy/web", "--pattern", strings.TrimSuffix(strings.Repeat("x,", 65), ","), "--error", "SERVFAIL"}},
	{"--workers|between 1 and 128", []string{"stress", "cpu", "deploy/web", "--workers", "0"}},
	{"--workers|between 1 and 128", []string{"stress", "cpu", "deploy/web", "--workers", "129"}},
	{"--load|between 1 and 100", []string{"stress", "cpu", "deploy/web", "--load", "0"}},
	{"--load|between 1 and 100", []string{"stress", "cpu", "deploy/web", "--load", "101"}},
	{"--load|between 1 and 100", []string{"stress", "cpu", "deploy/web", "--load", "-5"}},
	{"--load|1-100", []string{"stress", "cpu", "deploy/web", "--load", "abc"}},
	{"--size|256Mi", []string{"stress", "memory", "deploy/web"}},
	{"--size|between 1Mi and 1Ti", []string{"stress", "memory", "deploy/web", "--size", "0"}},
	{"--size|between 1Mi and 1Ti", []string{"stress", "memory", "deploy/web", "--size", "-1Gi"}},
	{"--size|(0%, 100%]", []string{"stress", "memory", "deploy/web", "--size", "150%"}},
	{"--size|256Mi", []string{"stress", "memory", "deploy/web", "--size", "0%"}},
	{"--size|256Mi", []string{"stress", "memory", "deploy/web", "--size", "abc"}},
	{"--workers|between 1 and 64", []string{"stress", "memory", "deploy/web", "--size", "1Gi", "--workers", "0"}},
	{"--workers|between 1 and 64", []string{"stress", "memory", "deploy/web", "--size", "1Gi", "--workers", "65"}},
	{"--path|absolute", []string{"io", "latency", "deploy/web", "--delay", "10ms"}},
	{"--path|absolute", []string{"io", "latency", "deploy/web", "--path", "data", "--delay", "10ms"}},
	{"--delay|(0, 1h0m0s]", []string{"io", "latency", "deploy/web", "--path", "/data", "--delay", "0"}},
	{"--delay|(0, 1h0m0s]", []string{"io", "latency", "deploy/web", "--path", "/data", "--delay", "2h"}},
	{"--jitter|[0, --delay", []string{"io", "latency", "deploy/web", "--path", "/data", "--delay", "10ms", "--jitter", "20ms"}},
	{"--percent|(0, 100]", []string{"io", "latency", "deploy/web", "--path", "/data", "--delay", "10ms", "--percent", "0"}},
	{"--methods|known:", []string{"io", "latency", "deploy/web", "--path", "/data", "--delay", "10ms", "--methods", "bogus"}},
	{"--file-glob|path.Match syntax", []string{"io", "latency", "deploy/web", "--path", "/data", "--delay", "10ms", "--file-glob", "["}},
	{"--path|/data", []string{"io", "latency", "deploy/web", "--path", "/", "--delay", "10ms"}},
	{"--path|clean path", []string{"io", "latency", "deploy/web", "--path", "/data/../..", "--delay", "10ms"}},
	{"--errno|accepted:", []string{"io", "fault", "deploy/web", "--path", "/data", "--percent", "10", "--errno", "EFOO"}},
	{"--percent|(0, 100]", []string{"io", "fault", "deploy/web", "--path", "/data", "--percent", "0"}},
	{"--percent|(0, 100]", []string{"io", "fault", "deploy/web", "--path", "/data", "--percent", "101"}},
	{"--methods|known:", []string{"io", "fault", "deploy/web", "--path", "/data", "--percent", "10", "--methods", "bogus"}},
	{"--path|absolute", []string{"io", "fault", "deploy/web", "--path", "../x", "--percent", "10"}},
	{"--perm|octal", []string{"io", "attr", "deploy/web", "--path", "/data", "--perm", "999"}},
	{"--perm|octal", []string{"io", "attr", "deploy/web", "--path", "/data", "--perm", "abc"}},
	{"--mtime|RFC 3339", []string{"io", "attr", "deploy/web", "--path", "/data", "--mtime", "garbage"}},
	{"--perm, --size, --mtime, --uid, --gid", []string{"io", "attr", "deploy/web", "--path", "/data"}},
	{"--path|e.g. /data", []string{"io", "attr", "deploy/web", "--path", "", "--perm", "0444"}},
	{"--max-bytes|[1, 65536]", []string{"io", "mistake", "deploy/web", "--path", "/data", "--percent", "10", "--max-bytes", "0"}},
	{"--max-bytes|[1, 65536]", []string{"io", "mistake", "deploy/web", "--path", "/data", "--percent", "10", "--max-bytes", "70000"}},
	{"--methods|read and/or write", []string{"io", "mistake", "deploy/web", "--path", "/data", "--percent", "10", "--methods", "open"}},
	{"--percent|(0, 100]", []string{"io", "mistake", "deploy/web", "--path", "/data", "--percent", "0"}},
	{"--grace-period|between 1 and 3600", []string{"pod", "kill", "deploy/web", "--grace-period", "0"}},
	{"--grace-period|between 1 and 3600", []string{"pod", "kill", "deploy/web", "--grace-period", "4000"}},
	{"--duration|does not apply", []string{"pod", "kill", "deploy/web", "--duration", "1m"}},
	{"--pause-image|image reference", []string{"pod", "failure", "deploy/web", "--pause-image", "bad image!!"}},
	{"--detach|refused", []string{"pod", "failure", "deploy/web", "--detach"}},
	{"--signal|container pause", []string{"container", "kill", "deploy/web", "--signal", "STOP"}},
	{"--signal|accepted: HUP", []string{"container", "kill", "deploy/web", "--signal", "FOO"}},
	{"--signal|accepted: HUP", []string{"container", "kill", "deploy/web", "--signal", "99"}},
	{"--duration|does not apply", []string{"container", "kill", "deploy/web", "--duration", "1m"}},
	{"--duration|between 1s and --max-duration", []string{"container", "pause", "deploy/web", "--duration", "0s"}},
	{"--offset|±10y", []string{"time", "shift", "deploy/web"}},
	{"--offset|±10y", []string{"time", "shift", "deploy/web", "--offset", "11y"}},
	{"--offset|±10y", []string{"time", "shift", "deploy/web", "--offset", "abc"}},
	{"--offset|±10y", []string{"time", "shift", "deploy/web", "--offset", "0"}},
	{"--clocks|accepted:", []string{"time", "shift", "deploy/web", "--offset", "1h", "--clocks", "CLOCK_FOO"}},
	{"--rescan|between 100ms and 1m0s", []string{"time", "shift", "deploy/web", "--offset", "1h", "--rescan", "10ms"}},
	{"--rescan|between 100ms and 1m0s", []string{"time", "shift", "deploy/web", "--offset", "1h", "--rescan", "2m"}},
	{"--mode|fixed=N (N ≥ 1)", []string{"network", "loss", "deploy/web", "--percent", "5", "--mode", "fixed=0"}},
	{"--mode|percent=P (0 < P ≤ 100)", []string{"network", "loss", "deploy/web", "--percent", "5", "--mode", "percent=0"}},
	{"--mode|percent=P (0 < P ≤ 100)", []string{"network", "loss", "deploy/web", "--percent", "5", "--mode", "percent=101"}},
	{"--mode|fixed=N (N ≥ 1)", []string{"network", "loss", "deploy/web", "--percent", "5", "--mode", "fixed=-1"}},
	{"--max-targets|at least 1", []string{"network", "loss", "deploy/web", "--percent", "5", "--max-targets", "0"}},
	{"--duration|between 1s and --max-duration", []string{"network", "loss", "deploy/web", "--percent", "5", "--duration", "0"}},
	{"--duration|between 1s and --max-duration", []string{"network", "loss", "deploy/web", "--percent", "5", "--duration", "-1s"}},
	{"--duration|between 1s and --max-duration", []string{"network", "loss", "deploy/web", "--percent", "5", "--duration", "2h"}},
	{"--image-pull-policy|Always, IfNotPresent or Never", []string{"network", "loss", "deploy/web", "--percent", "5", "--image-pull-policy", "Sometimes"}},
	{"--helper-namespace|RFC 1123", []string{"network", "loss", "deploy/web", "--percent", "5", "--helper-namespace", "Bad_NS"}},
	{"--image|image reference", []string{"network", "loss", "deploy/web", "--percent", "5", "--image", ""}},
	{"--image|image reference", []string{"network", "loss", "deploy/web", "--percent", "5", "--image", "bad image"}},
	{"pod/|TYPE/NAME", []string{"network", "loss", "pod/", "--percent", "5"}},
	{"--field-selector|e.g. spec.nodeName=node-1", []string{"network", "loss", "--field-selector", "spec.nodeName", "--percent", "5"}},
	{"-n/--namespace|RFC 1123", []string{"network", "loss", "deploy/web", "--percent", "5", "-n", "Bad_NS"}},
	{"--max-targets|3 targets", []string{"network", "loss", "deploy/web", "--percent", "5", "--max-targets", "2", "--mode", "all"}},
	{"--allow-system|kube-system", []string{"network", "loss", "-n", "kube-system", "pod/coredns-1", "--percent", "5"}},
	{"--allow-host-network|hostNetwork", []string{"network", "loss", "pod/hostnet-1", "--percent", "5"}},
	{"stop|--all", []string{"stop"}},
	{"--all|not both", []string{"stop", "chaos-abcdefgh", "--all"}},
	{"not an id|kubectl chaos ls", []string{"stop", "not an id"}},
	{"--timeout|(0, 10m]", []string{"stop", "--all", "--timeout", "-1s"}},
	{"--timeout|between 1s and 10m0s", []string{"gc", "--timeout", "0"}},
	{"--timeout|between 1s and 10m0s", []string{"gc", "--timeout", "-1s"}},
	{"--node|RFC 1123", []string{"gc", "--node", ""}},
	{"unknown command \"extra\"", []string{"ls", "extra"}},
	{"-o/--output|json or yaml", []string{"ls", "-o", "xml"}},
	{"status ID", []string{"status"}},
	{"not an id|kubectl chaos ls", []string{"status", "not an id"}},
}

var t0ctx = context.Background()

// riskyPods is how many pods riskyCluster holds.
const riskyPods = 7

// riskyCluster is webCluster plus a kube-system pod and a hostNetwork pod.
func riskyCluster() *fake.Clientset {
	c := webCluster()
	sys := pod("coredns-1", "node-a", map[string]string{"k8s-app": "kube-dns"})
	sys.Namespace = "kube-system"
	host := pod("hostnet-1", "node-b", map[string]string{"app": "hostnet"})
	host.Spec.HostNetwork = true
	for _, p := range []*corev1.Pod{sys, host} {
		if _, err := c.CoreV1().Pods(p.Namespace).Create(t0ctx, p, metav1.CreateOptions{}); err != nil {
			panic(err)
		}
	}
	c.ClearActions()
	return c
}

// TestBadInputRefusedBeforeAnythingIsCreated runs each malformed invocation through the
// root command against a fake cluster: it must fail as a usage error whose message names
// the flag and the accepted range, and the cluster must have seen reads at most (no
// create, patch or delete: no helper pod, no namespace, no pod change).
func TestBadInputRefusedBeforeAnythingIsCreated(t *testing.T) {
	if len(badInputs) < 100 {
		t.Fatalf("%d rows; the table promises at least 100", len(badInputs))
	}
	for _, tt := range badInputs {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			c := riskyCluster()
			args := tt.args
			switch tt.args[0] {
			case "network", "stress", "io", "pod", "container", "time":
				args = append(append([]string(nil), tt.args...), "--yes")
			}
			r := run(t, c, args...)
			if r.err == nil {
				t.Fatalf("accepted; want a refusal naming %q", tt.want)
			}
			if code := exit.Code(r.err); code != exit.Usage {
				t.Errorf("exit code %d (%v), want %d (usage)", code, r.err, exit.Usage)
			}
			for _, w := range strings.Split(tt.want, "|") {
				if !strings.Contains(r.err.Error(), w) {
					t.Errorf("error %q does not say %q", r.err, w)
				}
			}
			noWrites(t, c)
			pods, _ := c.CoreV1().Pods("").List(t0ctx, metav1.ListOptions{})
			if len(pods.Items) != riskyPods {
				t.Errorf("%d pods in the cluster, want the %d it started with", len(pods.Items), riskyPods)
			}
		})
	}
}

// TestRiskyTargetsNeedTheirFlag: the kube-system pod, the hostNetwork pod and more
// targets than --max-targets are refused without their flag (rows of badInputs) and
// planned with it; a dry run still creates nothing.
func TestRiskyTargetsNeedTheirFlag(t *testing.T) {
	for _, tt := range []struct{ without, with []string }{
		{[]string{"network", "loss", "-n", "kube-system", "pod/coredns-1", "--percent", "5", "--dry-run"}, []string{"--allow-system"}},
		{[]string{"network", "loss", "pod/hostnet-1", "--percent", "5", "--dry-run"}, []string{"--allow-host-network"}},
		{[]string{"network", "loss", "deploy/web", "--percent", "5", "--max-targets", "2", "--dry-run"}, []string{"--max-targets", "3"}},
		{[]string{"stress", "cpu", "-n", "kube-system", "pod/coredns-1", "--dry-run"}, []string{"--allow-system"}},
		{[]string{"pod", "kill", "-n", "kube-system", "pod/coredns-1", "--dry-run"}, []string{"--allow-system"}},
	} {
		t.Run(strings.Join(tt.without, " "), func(t *testing.T) {
			c := riskyCluster()
			if r := run(t, c, tt.without...); r.err == nil || exit.Code(r.err) != exit.Usage {
				t.Fatalf("without %v: %v, want a usage error", tt.with, r.err)
			}
			c = riskyCluster()
			r := run(t, c, append(append([]string(nil), tt.without...), tt.with...)...)
			if r.err != nil {
				t.Fatalf("with %v: %v", tt.with, r.err)
			}
			if !strings.Contains(r.out, "Targets") && !strings.Contains(r.out, "target") {
				t.Errorf("dry run printed no plan:\n%s", r.out)
			}
			noWrites(t, c)
		})
	}
}
