package plan

import (
	"strings"
	"time"
)

// FormatDuration prints a duration the way users write it, without trailing zero units:
// 1h, 1h30m, 1m, 90s, 100ms (time.Duration.String says 1h0m0s, 1m0s).
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
