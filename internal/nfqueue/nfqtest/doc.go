// Package nfqtest builds throw-away network topologies for root integration tests of
// userspace delay and netem: a "target" namespace standing in for a pod sandbox and a
// "client" namespace, joined by a veth pair with IPv4 and IPv6 addresses, plus UDP and
// TCP probes that measure what a real client sees. It uses netlink only (no `ip` CLI),
// so the same tests run inside a minimal VM. Namespaces are unnamed: they vanish with
// their last file descriptor, so a crashed test leaves nothing under /run/netns.
package nfqtest
