package units

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxOffsetHours bounds what ParseOffset returns (the time fault's Validate refuses
// beyond ±10y; this only keeps the value far from what a Duration holds).
const maxOffsetHours = 1e6

var offsetUnit = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^([0-9]+(?:\.[0-9]*)?)(y|d)`) })

// ParseOffset reads a signed duration in Go's syntax (-10m, 1h30m, 500ms), with two
// more units: d (24h) and y (365d), e.g. -3d12h or 1y. It keeps the value within what
// a Duration holds (maxOffsetHours); the ±10y limit is the time fault's Validate.
func ParseOffset(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, fmt.Errorf("give how far to shift the clocks, e.g. -10m, 2h, -3d or 1y")
	}
	neg := false
	if in[0] == '-' || in[0] == '+' {
		neg = in[0] == '-'
		in = in[1:]
	}
	var total float64 // hours from d and y, exact enough below ±10y
	for {
		m := offsetUnit().FindStringSubmatch(in)
		if m == nil {
			break
		}
		n, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			return 0, fmt.Errorf("%q: %w", s, err)
		}
		if m[2] == "y" {
			n *= 365
		}
		total += n * 24
		in = in[len(m[0]):]
	}
	// Checked before each sum: "7000000000s" alone is 1.9e6 h, and 41666d plus
	// 2562047h wrapped around int64 (found by make fuzz).
	beyond := fmt.Errorf("%q is beyond ±10y", s)
	if total > maxOffsetHours {
		return 0, beyond
	}
	d := time.Duration(total * float64(time.Hour))
	if in != "" {
		rest, err := time.ParseDuration(in)
		if err != nil || rest < 0 {
			return 0, fmt.Errorf("%q is not a duration like -10m, 1h30m, -3d or 1y (at most ±10y)", s)
		}
		if total+rest.Hours() > maxOffsetHours {
			return 0, beyond
		}
		d += rest
	}
	if neg {
		d = -d
	}
	return d, nil
}
