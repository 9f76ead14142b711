package network

import (
	"strings"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/network/netobj"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// nftPriority puts our chains before anything else on the hook.
const nftPriority = -500

// nftVariant is one way to build the drop tables, for what the kernel has.
type nftVariant struct {
	owner      bool // NFT_TABLE_F_OWNER (linux 5.12+)
	inetEgress bool // egress drops at inet postrouting: no netdev egress hook (linux < 5.16)
}

// bestNFT is the variant of current kernels, the one --dry-run shows.
var bestNFT = nftVariant{owner: true}

// dropChain is one base chain of the drop tables and what its rules match.
type dropChain struct {
	table netobj.Table
	name  string
	hook  netobj.Hook
	match netobj.Match
	obj   plan.Object
}

// drops is the nftables layout of a partition or of nft loss: the tables, then one
// chain per interface and side (or one inet postrouting chain for egress without the
// netdev egress hook). nft_linux.go turns it into one batch; --dry-run shows its objects.
type drops struct {
	tables []netobj.Table
	chains []dropChain
	// percent of the matching packets dropped at random; 0 drops them all (partition).
	percent float64
}

// dropLayout lays out the drops of n on the interfaces ifnames in the owned table named
// table. Both the netdev ingress and egress hooks are silent drops: ingress is where
// loss on the wire shows up, and a drop at the netdev egress hook happens below the IP
// layer, so the sending socket gets no EPERM (a drop at the inet output/postrouting
// hooks returns EPERM to the sender; measured in the tests).
func dropLayout(n *plan.Network, ifnames []string, table string, v nftVariant) drops {
	ingress, egress, remote := dropSides(n)
	var d drops
	verdict := "drop"
	if n.Partition == nil {
		d.percent = n.Loss.Percent
		verdict = netobj.RandomDrop(d.percent)
	}
	f := n.Filter
	netdev := netobj.Table{Family: "netdev", Name: table, Owner: v.owner}
	if ingress || egress && !v.inetEgress {
		d.tables = append(d.tables, netdev)
	}
	add := func(t netobj.Table, name string, h netobj.Hook, m netobj.Match, why string) {
		d.chains = append(d.chains, dropChain{table: t, name: name, hook: h, match: m,
			obj: t.Chain(name, h, strings.TrimSpace(m.String()+" "+verdict)+" ("+why+")")})
	}
	for _, ifname := range ifnames {
		if ingress {
			add(netdev, "ingress_"+ifname, netobj.Hook{Name: "ingress", Device: ifname, Priority: nftPriority},
				netobj.Match{Ingress: true, Remote: remote, Protocol: f.Protocol, Ports: f.Ports}, "silent, like loss on the wire")
		}
		if egress && !v.inetEgress {
			add(netdev, "egress_"+ifname, netobj.Hook{Name: "egress", Device: ifname, Priority: nftPriority},
				netobj.Match{Remote: remote, Protocol: f.Protocol, Ports: f.Ports}, "silent: dropped below the IP layer, the sender gets no EPERM")
		}
	}
	if egress && v.inetEgress {
		inet := netobj.Table{Family: "inet", Name: table, Owner: v.owner}
		d.tables = append(d.tables, inet)
		add(inet, "postrouting", netobj.Hook{Name: "postrouting", Priority: nftPriority},
			netobj.Match{Interfaces: ifnames, Remote: remote, Protocol: f.Protocol, Ports: f.Ports}, "the sender sees EPERM")
	}
	return d
}

// dropSides says where the drops of n act and on which remote CIDRs.
func dropSides(n *plan.Network) (ingress, egress bool, remote []string) {
	remote = append([]string{}, n.Filter.CIDRs...)
	if p := n.Partition; p != nil {
		remote = append(remote, p.Peers...)
		return p.Direction != "to", p.Direction != "from", remote
	}
	d := n.Filter.Direction
	return d == "ingress" || d == "both", d == "" || d == "egress" || d == "both", remote
}

// objects are the tables, then the chains, as the agent creates them.
func (d drops) objects() []plan.Object {
	var out []plan.Object
	for _, t := range d.tables {
		out = append(out, t.Object(""))
	}
	for _, c := range d.chains {
		out = append(out, c.obj)
	}
	return out
}
