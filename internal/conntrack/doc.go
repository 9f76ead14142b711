// Package conntrack is the small part of netlink conntrack the agent needs, inside a
// target's network namespace: delete the entries of our redirected connections (by
// their ct mark), so a client that reuses its source port after the redirect is gone
// reaches the real server instead of a dead listener, and find the original destination
// of a redirected UDP flow (what SO_ORIGINAL_DST gives for TCP).
//
// Linux-only; built on github.com/ti-mo/conntrack (mdlayher/netlink).
package conntrack
