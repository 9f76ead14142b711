package memory

import (
	"strings"
	"testing"
)

// FuzzParseSize: any --size parses to bytes or a percentage, or is refused naming --size.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"256Mi", "1Gi", "50%", "100%", "0%", "150%", "-1Gi", "0", "abc", "1e18", "%", "NaN%", "1.5Ki", "9223372036854775807Ei"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseSize(s)
		if err != nil {
			if !strings.Contains(err.Error(), "--size") {
				t.Errorf("ParseSize(%q): %v does not name --size", s, err)
			}
			return
		}
		// A 0 or -0 percentage parses; stress.Validate refuses it ("-0%" was found so).
		if m == nil || (m.Bytes != 0 && m.Percent != 0) {
			t.Errorf("ParseSize(%q) = %+v: want bytes or a percentage", s, m)
		}
	})
}
