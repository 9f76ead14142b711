package units

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

// ParseMemory reads a memory size: a Kubernetes quantity (bytes > 0) or a percentage of
// the memory limit ("50%"): bytes, or else the percent (0% parses). flag names the
// flag and help says the accepted range, for errors; the range itself is the fault's
// Validate (a 0% parses here and is refused there).
func ParseMemory(flag, s, help string) (bytes uint64, percent float64, err error) {
	s = strings.TrimSpace(s)
	if p, ok := strings.CutSuffix(s, "%"); ok {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, 0, fmt.Errorf("%s %q: a percentage of the memory limit is a number followed by %%, like 50%%", flag, s)
		}
		return 0, v, nil
	}
	q, err := resource.ParseQuantity(s)
	if err != nil {
		hint := ""
		if u := strings.ToUpper(s); strings.HasSuffix(u, "B") {
			hint = " (no B: write 256Mi or 256M)"
		}
		return 0, 0, fmt.Errorf("%s %q: want a quantity like 256Mi, 1Gi or 500M, or a percentage of the memory limit like 50%%%s", flag, s, hint)
	}
	if q.Sign() <= 0 {
		return 0, 0, fmt.Errorf("%s %q: must be more than 0 (%s)", flag, s, help)
	}
	if q.CmpInt64(math.MaxInt64/2) > 0 {
		return 0, 0, fmt.Errorf("%s %q: too large (%s)", flag, s, help)
	}
	return uint64(q.Value()), 0, nil
}
