package plan

// KindNoop is the fault that changes nothing.
const KindNoop = "noop"

// Noop is a fault that changes nothing; it exists to test the session and agent loop.
// FailApply / FailRecover make it fail on purpose, for exit-code tests.
type Noop struct {
	FailApply   bool `json:"failApply,omitempty"`
	FailRecover bool `json:"failRecover,omitempty"`
	// Counting makes it report counters (fault.Counting) like a real fault: a traffic
	// counter that grows by PerRead at each read (0: never, so it is flagged "no
	// traffic matched yet"), for the agent's and the live view's tests.
	Counting *NoopCounting `json:"counting,omitempty"`
}

// NoopCounting is the made-up traffic of a noop fault.
type NoopCounting struct {
	PerRead uint64 `json:"perRead,omitempty"`
}
