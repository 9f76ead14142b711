package plan

// SweepResult is what a sweep-only agent (`kubectl-chaos agent --sweep-only`, started by
// `kubectl chaos gc`) leaves in its termination message: what it removed on its node.
// Like Result it must fit in 4096 bytes; Omitted counts the objects cut to fit.
type SweepResult struct {
	Node  string         `json:"node,omitempty"`
	Swept []SweptJournal `json:"swept"`
	Error string         `json:"error,omitempty"`
}

// SweptJournal is one experiment's journal the sweep recovered.
type SweptJournal struct {
	Experiment string `json:"experiment"`
	// Reason is why it was recovered: "deadline-passed" or "helper-gone".
	Reason  string   `json:"reason"`
	Files   int      `json:"files"`
	Removed []Object `json:"removed,omitempty"`
	// Omitted counts removed objects left out of Removed to fit the message.
	Omitted int    `json:"omitted,omitempty"`
	Error   string `json:"error,omitempty"`
}

// OK reports whether the sweep removed everything it found.
func (r *SweepResult) OK() bool {
	if r.Error != "" {
		return false
	}
	for _, s := range r.Swept {
		if s.Error != "" {
			return false
		}
	}
	return true
}
