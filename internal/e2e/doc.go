// Package e2e holds the end-to-end tests of kubectl-chaos (build tag e2e) and the local
// cluster harness they run against:
//
//	cluster/cluster.sh   a single-node Kubernetes v1.34 as plain processes (make cluster-up)
//	harness/             nested module that builds the Kubernetes binaries and etcd
//	tools/               mkimage (docker-archive without Docker), pause, echo workload
//	probe/               client-side measurements (UDP loss, TCP, throughput)
//	run.sh               make test-e2e / demo / bench-e2e: phases, timing, host check
//
// The tests drive the real plugin binary through `kubectl chaos …` and measure every
// fault from a real client. Run them with `make test-e2e`.
package e2e
