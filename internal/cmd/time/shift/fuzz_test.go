package shift

import (
	"testing"
	"time"
)

// FuzzParseOffset: any --offset parses to at most ±10y, or is refused; never a panic.
func FuzzParseOffset(f *testing.F) {
	for _, s := range []string{"-10m", "2h", "-3d", "1y", "10y", "11y", "1y2d3h4m5s", "0", "", "-", "+1h", "1.5d", "99999999999y", "1d-2h", "--1h"} {
		f.Add(s)
	}
	// ParseOffset only keeps the value within what a Duration holds (1e6 h, ~114y);
	// the ±10y limit is the kind's Validate, checked after it ("11y" parses).
	const most = 1e6*time.Hour + 24*time.Hour
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseOffset(s)
		if err == nil && (d > most || d < -most) {
			t.Errorf("ParseOffset(%q) = %s, beyond 1e6h without an error", s, d)
		}
	})
}
