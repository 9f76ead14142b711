// Package nfqdelay delays a target's packets in userspace, for kernels without
// sch_netem: an nftables table the agent owns steers matching packets to an NFQUEUE,
// and the agent holds each one for the asked latency (± jitter with correlation), then
// accepts them in arrival order with batch verdicts.
//
// It never blackholes: the table carries the kernel's owner flag (it dies with the
// agent's netlink socket, even on kill -9), the queue rule has `bypass` (nobody
// listening → accept) and the queue is FAIL_OPEN (queue or socket buffer full →
// accept). Graceful recovery flushes the rules, waits for the held packets to leave,
// then deletes the table.
//
// Hooks. Holding a TCP sender's own segments (output/postrouting in the target netns)
// collapses the flow: TCP small queues counts held skbs against the socket (measured:
// 50 ms → 0.46 Mbit/s). So TCP is always delayed on the segments that reach the target
// (prerouting): for "egress" the round trip still grows by the latency, as with netem
// on egress, and a bulk TCP flow keeps its throughput. Other protocols are delayed where
// they pass: output for egress, prerouting for ingress. For "both", TCP is held twice
// the latency at prerouting.
//
// Describe is portable (the CLI uses it for --dry-run); Apply is Linux only. Both render
// their objects with describe, through internal/fault/network/netobj. The delay's limits
// are checked once, by the network kind's Validate (the CLI and the agent run it before
// Apply); the latency limit there is one this backend can hold packets for.
package nfqdelay

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/network/netobj"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// EntryType is the journal entry type of a delay; its recoverer is registered on Linux.
const EntryType = "nfqdelay"

// QueueBase is the first nfqueue number used in the target netns (queues are per netns);
// a "both" delay of TCP also uses QueueBase+1 (twice the latency).
const QueueBase = 19267 // 0x4b43, like the tool's qdisc handle

// Priority of the delay chains: after conntrack (-200), before filter (0).
const Priority = -150

// hookRule is one steering rule: where it sits and what it sends to which queue.
type hookRule struct {
	Hook string // "prerouting" or "output"
	// Ingress: the remote side is the source (prerouting); else the destination.
	Ingress bool
	// Protocol narrows the filter's protocol ("" = the filter's own).
	Protocol string
	// NotTCP excludes TCP (delayed at prerouting instead).
	NotTCP bool
	// Factor multiplies the latency: 2 for TCP in "both" (one hold for both ways).
	Factor int
}

// Queue is the queue number of the rule.
func (r hookRule) Queue() uint16 { return QueueBase + uint16(r.Factor-1) }

// layout picks the hooks for a filter; see the package comment.
func layout(f plan.Filter) []hookRule {
	dir := f.Direction
	if dir == "" {
		dir = "egress"
	}
	proto := f.Protocol
	var out []hookRule
	nonTCP := func(hook string, ingress bool) {
		switch proto {
		case "tcp":
		case "":
			p := ""
			if len(f.Ports) > 0 {
				p = "udp" // ports exist for tcp and udp only
			}
			out = append(out, hookRule{Hook: hook, Ingress: ingress, Protocol: p, NotTCP: p == "", Factor: 1})
		default:
			out = append(out, hookRule{Hook: hook, Ingress: ingress, Protocol: proto, Factor: 1})
		}
	}
	tcp := func(factor int) {
		if proto == "" || proto == "tcp" {
			out = append(out, hookRule{Hook: "prerouting", Ingress: true, Protocol: "tcp", Factor: factor})
		}
	}
	switch dir {
	case "ingress":
		nonTCP("prerouting", true)
		tcp(1)
	case "both":
		nonTCP("prerouting", true)
		nonTCP("output", false)
		tcp(2)
	default:
		nonTCP("output", false)
		tcp(1)
	}
	return out
}

// Describe lists the objects Apply creates for a target (table name shown with the
// placeholders <experiment>_<hash>, one table per experiment and pod) and how each is
// removed.
func Describe(d plan.Delay, f plan.Filter) []plan.Object {
	return describe("kubectl_chaos_delay_<experiment>_<hash>", d, f, "")
}

func describe(table string, d plan.Delay, f plan.Filter, queueExpr string) []plan.Object {
	if queueExpr == "" {
		queueExpr = "queue" // or the xt NFQUEUE target where nft_queue is missing
	}
	rules := layout(f)
	tbl := netobj.Table{Family: "inet", Name: table, Owner: true}
	objs := []plan.Object{tbl.Object("agent flushes its rules, waits one delay for held packets, deletes the table")}
	hooks := map[string]bool{}
	for _, r := range rules {
		if !hooks[r.Hook] {
			hooks[r.Hook] = true
			objs = append(objs, tbl.Chain(chainName(r.Hook), netobj.Hook{Name: r.Hook, Priority: Priority}, ""))
		}
		objs = append(objs, tbl.Rule(chainName(r.Hook), fmt.Sprintf("%s %s num %d bypass", r.match(f), queueExpr, r.Queue()), "flushed first on recovery"))
	}
	queues := map[uint16]int{}
	for _, r := range rules {
		queues[r.Queue()] = r.Factor
	}
	for _, q := range []uint16{QueueBase, QueueBase + 1} {
		if factor, ok := queues[q]; ok {
			objs = append(objs, netobj.Queue(q, fmt.Sprintf("agent holds each packet %s and accepts in order (batch verdicts, fail-open)",
				delayWords(d, factor))))
		}
	}
	return objs
}

// Note is the human explanation of the hooks, for events and --dry-run.
func Note(f plan.Filter) string {
	var b strings.Builder
	b.WriteString("delay in userspace (nfqueue backend): ")
	var parts []string
	for _, r := range layout(f) {
		what := "non-TCP"
		if r.Protocol != "" {
			what = strings.ToUpper(r.Protocol)
		}
		dir := "leaving the target"
		if r.Ingress {
			dir = "reaching the target"
		}
		s := fmt.Sprintf("%s %s held at %s", what, dir, r.Hook)
		if r.Factor > 1 {
			s += fmt.Sprintf(" for %d× the latency", r.Factor)
		}
		parts = append(parts, s)
	}
	b.WriteString(strings.Join(parts, "; "))
	for _, r := range layout(f) {
		if r.Protocol == "tcp" && (f.Direction == "" || f.Direction == "egress" || f.Direction == "both") {
			b.WriteString(" (TCP is delayed on the segments reaching the target, which adds the same latency to each round trip: holding its outgoing segments would collapse throughput through TCP small queues)")
			break
		}
	}
	return b.String()
}

func chainName(hook string) string {
	if hook == "output" {
		return "delay_out"
	}
	return "delay_in"
}

// match is what the rule matches of the filter f.
func (r hookRule) match(f plan.Filter) netobj.Match {
	return netobj.Match{
		Ingress: r.Ingress, Interfaces: f.Interfaces, SkipLoopback: len(f.Interfaces) == 0,
		Remote: f.CIDRs, Protocol: r.Protocol, NotTCP: r.NotTCP, Ports: f.Ports,
	}
}

func delayWords(d plan.Delay, factor int) string {
	s := (time.Duration(factor) * d.Latency.D()).String()
	if d.Jitter > 0 {
		s += "±" + (time.Duration(factor) * d.Jitter.D()).String()
		if d.Correlation > 0 {
			s += fmt.Sprintf(" (correlation %g%%)", d.Correlation)
		}
	}
	return s
}

// sampler draws per-packet delays like netem without a distribution table: latency
// plus jitter × a uniform value in [-1, 1], correlated with the previous draw.
type sampler struct {
	latency, jitter float64 // ns
	rho             float64 // 0..1
	last            float64
	rng             *rand.Rand
}

func newSampler(d plan.Delay, factor int, seed uint64) *sampler {
	return &sampler{
		latency: float64(factor) * float64(d.Latency),
		jitter:  float64(factor) * float64(d.Jitter),
		rho:     d.Correlation / 100,
		rng:     rand.New(rand.NewPCG(seed, 0x6e6671)),
	}
}

func (s *sampler) next() time.Duration {
	if s.jitter == 0 {
		return time.Duration(s.latency)
	}
	u := s.rng.Float64()*2 - 1
	if s.rho > 0 {
		u = (1-s.rho)*u + s.rho*s.last
		s.last = u
	}
	d := s.latency + s.jitter*u
	if d < 0 {
		d = 0
	}
	return time.Duration(d)
}

// maxDelay is the longest any packet is held for d.
func maxDelay(d plan.Delay, f plan.Filter) time.Duration {
	factor := 1
	for _, r := range layout(f) {
		if r.Factor > factor {
			factor = r.Factor
		}
	}
	return time.Duration(factor) * (d.Latency.D() + d.Jitter.D())
}
