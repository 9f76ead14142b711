package plan

// KindNoop is the fault that changes nothing.
const KindNoop = "noop"

// Noop is a fault that changes nothing; it exists to test the session and agent loop.
// FailApply / FailRecover make it fail on purpose, for exit-code tests.
type Noop struct {
	FailApply   bool `json:"failApply,omitempty"`
	FailRecover bool `json:"failRecover,omitempty"`
}
