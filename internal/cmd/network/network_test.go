package network

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/cmdtest"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/network/bandwidth"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/network/corrupt"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/network/delay"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/network/dns"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/network/duplicate"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/network/loss"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/network/partition"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/network/reorder"
	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/experiment"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/spf13/cobra"
)

func ms(n int) plan.Duration { return plan.Duration(time.Duration(n) * time.Millisecond) }

// parse runs verb with args and returns the experiment options the verb handed to runF.
func parse(t *testing.T, verb string, args []string) (*experiment.Options, error) {
	t.Helper()
	var got *experiment.Options
	var newCmd func(f *factory.Factory) *cobra.Command
	switch verb {
	case "delay":
		newCmd = func(f *factory.Factory) *cobra.Command {
			return delay.NewCmdDelay(f, func(o *delay.Options) error { got = o.Experiment; return nil })
		}
	case "loss":
		newCmd = func(f *factory.Factory) *cobra.Command {
			return loss.NewCmdLoss(f, func(o *loss.Options) error { got = o.Experiment; return nil })
		}
	case "duplicate":
		newCmd = func(f *factory.Factory) *cobra.Command {
			return duplicate.NewCmdDuplicate(f, func(o *duplicate.Options) error { got = o.Experiment; return nil })
		}
	case "corrupt":
		newCmd = func(f *factory.Factory) *cobra.Command {
			return corrupt.NewCmdCorrupt(f, func(o *corrupt.Options) error { got = o.Experiment; return nil })
		}
	case "reorder":
		newCmd = func(f *factory.Factory) *cobra.Command {
			return reorder.NewCmdReorder(f, func(o *reorder.Options) error { got = o.Experiment; return nil })
		}
	case "bandwidth":
		newCmd = func(f *factory.Factory) *cobra.Command {
			return bandwidth.NewCmdBandwidth(f, func(o *bandwidth.Options) error { got = o.Experiment; return nil })
		}
	case "partition":
		newCmd = func(f *factory.Factory) *cobra.Command {
			return partition.NewCmdPartition(f, func(o *partition.Options) error { got = o.Experiment; return nil })
		}
	case "dns":
		newCmd = func(f *factory.Factory) *cobra.Command {
			return dns.NewCmdDNS(f, func(o *dns.Options) error { got = o.Experiment; return nil })
		}
	default:
		t.Fatalf("unknown verb %s", verb)
	}
	err := cmdtest.Execute(newCmd, args...)
	return got, err
}

func TestVerbFlags(t *testing.T) {
	tests := []struct {
		verb string
		args []string
		want plan.Network
	}{
		{"delay", []string{"deploy/web", "--latency", "100ms"},
			plan.Network{Delay: &plan.Delay{Latency: ms(100)}}},
		{"delay", []string{"deploy/web", "--latency", "100ms", "--jitter", "10ms", "--correlation", "25", "--interface", "eth0", "--port", "80,443", "--protocol", "tcp", "--cidr", "10.1.2.3/8", "--delay-backend", "nfqueue"},
			plan.Network{Delay: &plan.Delay{Latency: ms(100), Jitter: ms(10), Correlation: 25}, DelayBackend: "nfqueue",
				Filter: plan.Filter{Interfaces: []string{"eth0"}, Ports: []uint16{80, 443}, Protocol: "tcp", CIDRs: []string{"10.0.0.0/8"}}}},
		{"loss", []string{"pod/x", "--percent", "20", "--correlation", "5", "--loss-backend", "netem"},
			plan.Network{Loss: &plan.Percent{Percent: 20, Correlation: 5}, LossBackend: "netem"}},
		{"duplicate", []string{"pod/x", "--percent", "5"}, plan.Network{Duplicate: &plan.Percent{Percent: 5}}},
		{"corrupt", []string{"pod/x", "--percent", "0.5", "--cidr", "fd00::1/64"},
			plan.Network{Corrupt: &plan.Percent{Percent: 0.5}, Filter: plan.Filter{CIDRs: []string{"fd00::/64"}}}},
		{"reorder", []string{"pod/x", "--percent", "25", "--gap", "5", "--latency", "20ms"},
			plan.Network{Delay: &plan.Delay{Latency: ms(20)}, Reorder: &plan.Reorder{Percent: 25, Gap: 5}}},
		{"bandwidth", []string{"pod/x", "--rate", "1mbit", "--limit", "64kb", "--buffer", "16kb"},
			plan.Network{Bandwidth: &plan.Bandwidth{Rate: 1_000_000, Limit: 64 << 10, Buffer: 16 << 10}}},
		{"partition", []string{"deploy/web", "--cidr", "10.0.0.0/24", "--direction", "from"},
			plan.Network{Partition: &plan.Partition{Direction: "from", Peers: []string{"10.0.0.0/24"}, PeerNames: []string{"10.0.0.0/24"}}}},
		{"partition", []string{"deploy/web", "--port", "5432", "--protocol", "tcp"},
			plan.Network{Partition: &plan.Partition{Direction: "both"}, Filter: plan.Filter{Ports: []uint16{5432}, Protocol: "tcp"}}},
		{"partition", []string{"deploy/web", "--to", "svc/db", "--to", "app=cache"},
			plan.Network{Partition: &plan.Partition{Direction: "both", To: []string{"svc/db", "app=cache"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.verb+" "+strings.Join(tt.args, " "), func(t *testing.T) {
			o, err := parse(t, tt.verb, tt.args)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if o.Fault.Kind != plan.KindNetwork || o.Fault.Action != tt.verb {
				t.Errorf("fault kind/action = %s/%s, want network/%s", o.Fault.Kind, o.Fault.Action, tt.verb)
			}
			if diff := cmp.Diff(&tt.want, o.Fault.Network); diff != "" {
				t.Errorf("network spec (-want +got):\n%s", diff)
			}
			if o.Target.Args[0] != tt.args[0] {
				t.Errorf("target args = %v", o.Target.Args)
			}
		})
	}
}

func TestCommonFlags(t *testing.T) {
	o, err := parse(t, "loss", []string{"-l", "app=web", "-A", "-c", "nginx", "--percent", "1", "--mode", "fixed=2", "--seed", "42",
		"--duration", "90s", "--max-duration", "2h", "--detach", "-o", "json", "--yes", "--helper-namespace", "chaos",
		"--image", "example.com/agent:1", "--image-pull-policy", "Always", "--runtime-socket", "/run/k3s/containerd/containerd.sock",
		"--max-targets", "3", "--allow-system", "--allow-host-network"})
	if err != nil {
		t.Fatal(err)
	}
	tg := o.Target
	if tg.LabelSelector != "app=web" || !tg.AllNamespaces || tg.Container != "nginx" || tg.Mode != "fixed=2" || tg.Seed != 42 ||
		tg.MaxTargets != 3 || !tg.AllowSystem || !tg.AllowHostNetwork {
		t.Errorf("target options = %+v", tg)
	}
	if o.Duration != 90*time.Second || o.MaxDuration != 2*time.Hour || !o.Detach || o.Output != "json" || !o.Yes ||
		o.HelperNamespace != "chaos" || o.Image != "example.com/agent:1" || o.ImagePullPolicy != "Always" ||
		o.RuntimeSocket != "/run/k3s/containerd/containerd.sock" {
		t.Errorf("common options = %+v", o)
	}

	o, err = parse(t, "loss", []string{"pod/x", "--percent", "1"})
	if err != nil {
		t.Fatal(err)
	}
	if o.Duration != 5*time.Minute || o.MaxDuration != time.Hour || o.Target.MaxTargets != 50 || o.Target.Mode != "all" ||
		o.HelperNamespace != "kubectl-chaos" || !strings.HasPrefix(o.Image, "ghcr.io/kubectl-chaos/kubectl-chaos:") ||
		o.ImagePullPolicy != "IfNotPresent" || o.RuntimeSocket != "/run/containerd/containerd.sock" || o.DryRun || o.Detach {
		t.Errorf("defaults = %+v", o)
	}
}

func TestVerbValidation(t *testing.T) {
	tests := []struct {
		verb string
		args []string
		want string // the error must name this flag / value
	}{
		{"delay", []string{"pod/x", "--latency", "0s"}, "--latency"},
		{"delay", []string{"pod/x", "--latency", "-1s"}, "--latency"},
		{"delay", []string{"pod/x", "--latency", "2h"}, "--latency"},
		{"delay", []string{"pod/x", "--latency", "10ms", "--jitter", "20ms"}, "--jitter"},
		{"delay", []string{"pod/x", "--latency", "10ms", "--correlation", "101"}, "--correlation"},
		{"delay", []string{"pod/x", "--latency", "10ms", "--delay-backend", "magic"}, "--delay-backend"},
		{"delay", []string{"pod/x", "--latency", "fast"}, "latency"},
		{"loss", []string{"pod/x", "--percent", "101"}, "--percent"},
		{"loss", []string{"pod/x", "--percent", "0"}, "--percent"},
		{"loss", []string{"pod/x", "--percent", "-3"}, "--percent"},
		{"loss", []string{"pod/x", "--percent", "3", "--loss-backend", "iptables"}, "--loss-backend"},
		{"loss", []string{"pod/x", "--percent", "3", "--protocol", "sctp"}, "--protocol"},
		{"loss", []string{"pod/x", "--percent", "3", "--port", "0"}, "--port"},
		{"loss", []string{"pod/x", "--percent", "3", "--port", "22", "--protocol", "icmp"}, "--port"},
		{"loss", []string{"pod/x", "--percent", "3", "--cidr", "10.0.0.1"}, "--cidr"},
		{"loss", []string{"pod/x", "--percent", "3", "--interface", "a/b"}, "--interface"},
		{"duplicate", []string{"pod/x", "--percent", "200"}, "--percent"},
		{"corrupt", []string{"pod/x", "--percent", "NaN"}, "--percent"},
		{"reorder", []string{"pod/x", "--percent", "20", "--latency", "0s"}, "--latency"},
		{"bandwidth", []string{"pod/x", "--rate", "0"}, "--rate"},
		{"bandwidth", []string{"pod/x", "--rate", "1lightyear"}, "--rate"},
		{"bandwidth", []string{"pod/x", "--rate", "1mbit", "--limit", "-5"}, "--limit"},
		{"partition", []string{"pod/x"}, "--to"},
		{"partition", []string{"pod/x", "--to", "svc/db", "--direction", "sideways"}, "--direction"},
		{"partition", []string{"pod/x", "--to", ""}, "--to"},
		{"dns", []string{"pod/x", "--error", "NXDOMAIN"}, "--pattern"},
		{"dns", []string{"pod/x", "--pattern", "a..b", "--error", "NXDOMAIN"}, "--pattern"},
		{"dns", []string{"pod/x", "--pattern", "a b.com", "--error", "NXDOMAIN"}, "--pattern"},
		{"dns", []string{"pod/x", "--pattern", "a.com"}, "--error, --random, --ip and --delay"},
		{"dns", []string{"pod/x", "--pattern", "a.com", "--error", "NXDOMAIN", "--random"}, "--error, --random, --ip and --delay"},
		{"dns", []string{"pod/x", "--pattern", "a.com", "--error", "NOERROR"}, "--error"},
		{"dns", []string{"pod/x", "--pattern", "a.com", "--ip", "10.0.0.300"}, "--ip"},
		{"dns", []string{"pod/x", "--pattern", "a.com", "--delay", "-1s"}, "--delay"},
		{"dns", []string{"pod/x", "--pattern", "a.com", "--delay", "2m"}, "--delay"},
		{"loss", []string{"pod/x", "--percent", "1", "--duration", "0s"}, "--duration"},
		{"loss", []string{"pod/x", "--percent", "1", "--duration", "2h"}, "--max-duration"},
		{"loss", []string{"pod/x", "--percent", "1", "--max-duration", "10000h"}, "--max-duration"},
		{"loss", []string{"pod/x", "--percent", "1", "-o", "table"}, "-o/--output"},
		{"loss", []string{"pod/x", "--percent", "1", "--image-pull-policy", "Sometimes"}, "--image-pull-policy"},
		{"loss", []string{"pod/x", "--percent", "1", "--helper-namespace", "Bad_NS"}, "--helper-namespace"},
		{"loss", []string{"pod/x", "--percent", "1", "--runtime-socket", "containerd.sock"}, "--runtime-socket"},
		{"loss", []string{"pod/x", "--percent", "1", "--dry-run", "--detach"}, "--detach"},
		{"loss", []string{"pod/x", "--percent", "1", "--mode", "fixed=0"}, "--mode"},
		{"loss", []string{"pod/x", "--percent", "1", "--max-targets", "-1"}, "--max-targets"},
		{"loss", []string{"--percent", "1"}, "no target"},
	}
	for _, tt := range tests {
		t.Run(tt.verb+" "+strings.Join(tt.args, " "), func(t *testing.T) {
			o, err := parse(t, tt.verb, tt.args)
			if err == nil {
				t.Fatalf("accepted; want an error naming %s (options %+v)", tt.want, o)
			}
			if exit.Code(err) != exit.Usage {
				t.Errorf("exit code %d, want %d (usage)", exit.Code(err), exit.Usage)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %s", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}

func TestDNSFlags(t *testing.T) {
	tests := []struct {
		args []string
		want plan.DNS
	}{
		{[]string{"deploy/web", "--pattern", "payments.*.svc.cluster.local,example.com", "--error", "nxdomain"},
			plan.DNS{Patterns: []string{"payments.*.svc.cluster.local", "example.com"}, Error: "NXDOMAIN", IPs: []string{}}},
		{[]string{"pod/x", "--pattern", "api.example.com", "--ip", "10.0.0.9,fd00::9"},
			plan.DNS{Patterns: []string{"api.example.com"}, IPs: []string{"10.0.0.9", "fd00::9"}}},
		{[]string{"pod/x", "--pattern", "*.example.com", "--random"},
			plan.DNS{Patterns: []string{"*.example.com"}, Random: true, IPs: []string{}}},
		{[]string{"pod/x", "--pattern", "a.com", "--delay", "1500ms"},
			plan.DNS{Patterns: []string{"a.com"}, Delay: ms(1500), IPs: []string{}}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			o, err := parse(t, "dns", tt.args)
			if err != nil {
				t.Fatal(err)
			}
			f := o.Fault
			if f.Kind != plan.KindDNS || f.Action != "dns" || f.DNS == nil {
				t.Fatalf("fault = %+v", f)
			}
			if diff := cmp.Diff(tt.want, *f.DNS, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("spec (-want +got):\n%s", diff)
			}
		})
	}
}
