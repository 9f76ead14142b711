package netflags

import (
	"strings"
	"testing"
)

// FuzzParseRate: any --rate text parses or is refused naming the flag; never a panic.
func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"1mbit", "100gbit", "8bit", "0", "", "1.5kibps", "-1mbit", "1e400mbit", "99999999999999999999tbit", ".", "1..2kbit", "NaN", "Inf"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := ParseRate("--rate", s); err != nil && !strings.Contains(err.Error(), "--rate") {
			t.Errorf("ParseRate(%q): %v does not name --rate", s, err)
		}
	})
}

// FuzzParseSize: any --limit/--buffer text parses to 1 byte..4gb, or is refused.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"64kb", "1500", "4gb", "5gb", "0", "", "1kbit", "-1", "0.0001b", "1e30", "9.9.9mb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseSize("--limit", s)
		if err != nil {
			if !strings.Contains(err.Error(), "--limit") {
				t.Errorf("ParseSize(%q): %v does not name --limit", s, err)
			}
			return
		}
		if v == 0 && strings.TrimSpace(s) != "" {
			t.Errorf("ParseSize(%q) = 0 without an error: 0 means 'derived'", s)
		}
	})
}
