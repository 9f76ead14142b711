// Package units parses the CLI's unit-bearing flag values: tc rates and sizes, memory
// sizes (a Kubernetes quantity or a percentage of the limit) and clock offsets.
//
// It imports no Kubernetes client on purpose: `go test -fuzz` instruments every
// package of the test binary, and a parser that sits next to client-go costs an
// instrumented build of ~600 packages before the first exec (CONTRIBUTING.md, Fuzzing).
// The callers (netflags, stress memory, time shift) keep their range texts and wrap
// these.
package units
