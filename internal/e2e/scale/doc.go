// Package scale holds the scale benchmarks of issue 16 (make bench-scale), in its
// test files only:
//
//   - BenchmarkKwok: the real CLI (`kubectl chaos stress cpu -A -l …`, the factory,
//     target resolution, plans, helper pods, the session) against a local
//     kube-apiserver + etcd whose nodes are kwok's fake ones (100 nodes, 1000 target
//     pods by default). kwok marks the pods Running; nothing there answers an attach,
//     so the attach goes to the node side below. It measures plan → helpers created →
//     Running (kwok) → fault active → recovered → deleted, counts the CLI's API
//     requests by verb (they must grow with nodes, not pods) and the CLI's memory, and
//     compares with the same pods done one by one.
//   - BenchmarkAttachFanout: the attach/stream fan-out alone, at N concurrent helpers:
//     the session's real attacher (WebSocket, pods/attach) against an HTTP server that
//     speaks the API server's attach protocol and runs the real agent (noop fault) on
//     each stream; time to every target injected, to every target recovered, memory.
//
// The node side (attach server and agents) runs in a child process, the test binary
// again (SCALE_NODE_SIDE=1), so the parent's memory is the CLI's.
package scale
