package scenario

import (
	"fmt"
	"strings"
)

var netActions = map[string]string{"delay": "network delay", "loss": "network loss", "duplicate": "network duplicate",
	"corrupt": "network corrupt", "bandwidth": "network bandwidth", "partition": "network partition"}

// network maps a NetworkChaos: the action onto its verb, target (the peers) onto --to,
// externalTargets onto --external and direction onto --direction, for every action.
func (c *cm) network(o *obj, fs *FaultStep) []string {
	action := o.str("action", true)
	fs.Verb = netActions[action]
	if fs.Verb == "" {
		c.fail(o.line("action"), o.at("action"), "action %q is not supported (delay, loss, duplicate, corrupt, bandwidth, partition)", action)
		return nil
	}
	c.field(o, fs, "device", "interface")
	c.field(o, fs, "externalTargets", "external")
	// Chaos Mesh's direction defaults to "to" for every action (our partition's to both).
	switch dir := o.str("direction", false); {
	case dir == "":
		c.set(o, fs, "action", "direction", "to")
	case dir == "to" || action == "loss" || action == "partition":
		c.set(o, fs, "direction", "direction", dir)
	default:
		c.fail(o.line("direction"), o.at("direction"), "direction %q is supported for loss and partition only: %s acts on the traffic to the peers (direction: to); to act on what a peer sends, make the peer the selector and the target", dir, action)
	}
	if t := c.sub(o, "target"); t != nil {
		c.peer(t, fs)
	}
	if a := c.sub(o, action); a != nil {
		c.netAction(action, a, fs)
	} else if action != "partition" {
		c.fail(o.line(action), o.at(action), "is required for action %s", action)
	}
	return []string{"action", "device", "externalTargets", "direction", "target", action}
}

func (c *cm) netAction(action string, a *obj, fs *FaultStep) {
	switch action {
	case "delay":
		c.field(a, fs, "latency", "latency")
		c.field(a, fs, "jitter", "jitter")
		c.field(a, fs, "correlation", "correlation")
		a.done("latency", "jitter", "correlation")
	case "bandwidth":
		c.field(a, fs, "rate", "rate")
		c.field(a, fs, "limit", "limit")
		c.field(a, fs, "buffer", "buffer")
		a.done("rate", "limit", "buffer")
	case "partition":
		a.done()
	default:
		c.field(a, fs, action, "percent")
		c.field(a, fs, "correlation", "correlation")
		a.done(action, "correlation")
	}
}

// peer maps a target (selector + mode: all) onto --to: its labelSelectors and
// expressionSelectors as one selector, its pods as pod/NAME. Peers are looked up in the
// experiment's namespace, so a namespace of the peer's is accepted only when it is that
// one.
func (c *cm) peer(t *obj, fs *FaultStep) {
	if m := t.str("mode", false); m != "" && m != "all" {
		c.fail(t.line("mode"), t.at("mode"), "a peer is every matching pod (mode: all), got %q", m)
	}
	t.used["value"] = true
	sel := c.sub(t, "selector")
	if sel == nil {
		c.fail(t.line("selector"), t.at("selector"), "is required")
		return
	}
	c.peerNamespaces(sel, fs, sel.list("namespaces"), "namespaces")
	var peers, exprs []string
	exprs = append(exprs, c.pairs(sel, "labelSelectors", "=")...)
	if nodes, ok := sel.seq("expressionSelectors"); ok {
		for i, n := range nodes {
			exprs = append(exprs, c.expression(c.obj(n, fmt.Sprintf("%s[%d]", sel.at("expressionSelectors"), i))))
		}
	}
	if j := strings.Join(exprs, ","); j != "" {
		if !strings.ContainsAny(j, "=!(") {
			c.fail(sel.line("expressionSelectors"), sel.at("expressionSelectors"), "a peer selected by Exists alone is not supported: add a labelSelector")
		}
		peers = append(peers, j)
	}
	if sel.has("pods") {
		po := c.obj(sel.node("pods"), sel.at("pods"))
		for _, ns := range po.order {
			c.peerNamespaces(sel, fs, []string{ns}, "pods")
			for _, name := range po.list(ns) {
				peers = append(peers, "pod/"+name)
			}
		}
	}
	sel.done("labelSelectors", "expressionSelectors", "pods", "namespaces")
	for _, p := range peers {
		fs.Fields = append(fs.Fields, FieldValue{Name: "to", Values: []string{p}, Line: t.line("selector"), Field: t.at("selector")})
	}
	t.done("mode", "value", "selector")
}

// peerNamespaces refuses a peer namespace other than the experiment's (--to resolves in
// the target namespace; one outside it can be given by address with --external).
func (c *cm) peerNamespaces(o *obj, fs *FaultStep, nss []string, key string) {
	for _, ns := range nss {
		if ns != fs.Namespace {
			in := "the current context's namespace"
			if fs.Namespace != "" {
				in = "namespace " + fs.Namespace
			}
			c.fail(o.line(key), o.at(key), "peer namespace %q: peers are looked up in the targets' namespace (%s); give a peer elsewhere by address (externalTargets)", ns, in)
			return
		}
	}
}
