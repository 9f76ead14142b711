package agent

import (
	"encoding/json"
	"fmt"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// EncodeResult returns res as compact JSON of at most MaxResultBytes, shortening error
// texts (and, as a last resort, dropping targets) until it fits.
func EncodeResult(res *plan.Result) []byte {
	b, _ := json.Marshal(res)
	if len(b) <= MaxResultBytes {
		return b
	}
	for _, limit := range []int{512, 160, 48, 0} {
		c := *res
		c.Error = truncate(c.Error, max(limit, 64))
		c.Targets = append([]plan.TargetResult(nil), res.Targets...)
		for i := range c.Targets {
			c.Targets[i].Error = truncate(c.Targets[i].Error, limit)
		}
		if b, _ = json.Marshal(&c); len(b) <= MaxResultBytes {
			return b
		}
	}
	c := *res
	c.Error = truncate(c.Error, 64)
	for n := len(res.Targets) - 1; n >= 0; n-- {
		c.Targets = make([]plan.TargetResult, n)
		copy(c.Targets, res.Targets[:n])
		for i := range c.Targets {
			c.Targets[i].Error = truncate(c.Targets[i].Error, 0)
		}
		c.Error = truncate(fmt.Sprintf("%d more target(s) omitted; ", len(res.Targets)-n)+res.Error, 96)
		if b, _ = json.Marshal(&c); len(b) <= MaxResultBytes {
			return b
		}
	}
	return b
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n <= 3 {
		if s == "" {
			return ""
		}
		return "…"
	}
	// cut on a rune boundary
	r := []rune(s)
	out := ""
	for _, c := range r {
		if len(out)+len(string(c)) > n-3 {
			break
		}
		out += string(c)
	}
	return out + "…"
}
