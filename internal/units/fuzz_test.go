package units

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The fuzz targets of the CLI's unit parsers. `make test` runs the seeds (f.Add and
// testdata/fuzz); `make fuzz` fuzzes each for FUZZTIME. Besides "never a panic", each
// checks a property: an error names the flag, and a value that parses prints back to
// text that parses to the same value.

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"1mbit", "100gbit", "8bit", "0", "", "1.5kibps", "-1mbit", "1e400mbit", "99999999999999999999tbit", ".", "1..2kbit", "NaN", "Inf"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseRate("--rate", s, "a rate")
		if err != nil {
			if !strings.Contains(err.Error(), "--rate") {
				t.Errorf("ParseRate(%q): %v does not name --rate", s, err)
			}
			return
		}
		if v > 1<<53 { // beyond float64's exact integers the round trip may round
			return
		}
		if back, err := ParseRate("--rate", strconv.FormatUint(v, 10)+"bit", "a rate"); err != nil || back != v {
			t.Errorf("ParseRate(%q) = %d, but %dbit parses to %d, %v", s, v, v, back, err)
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
		if v == 0 {
			if strings.TrimSpace(s) != "" {
				t.Errorf("ParseSize(%q) = 0 without an error: 0 means 'derived'", s)
			}
			return
		}
		if back, err := ParseSize("--limit", strconv.FormatUint(uint64(v), 10)); err != nil || back != v {
			t.Errorf("ParseSize(%q) = %d, but %d parses to %d, %v", s, v, v, back, err)
		}
	})
}

// FuzzParseMemory: any --size parses to bytes or a percentage, or is refused naming --size.
func FuzzParseMemory(f *testing.F) {
	for _, s := range []string{"256Mi", "1Gi", "50%", "100%", "0%", "150%", "-1Gi", "0", "abc", "1e18", "%", "NaN%", "1.5Ki", "9223372036854775807Ei"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, pct, err := ParseMemory("--size", s, "a range")
		if err != nil {
			if !strings.Contains(err.Error(), "--size") {
				t.Errorf("ParseMemory(%q): %v does not name --size", s, err)
			}
			return
		}
		// A 0 or -0 percentage parses; stress.Validate refuses it ("-0%" was found so).
		if b != 0 && pct != 0 || math.IsNaN(pct) || math.IsInf(pct, 0) || b > math.MaxInt64/2 {
			t.Fatalf("ParseMemory(%q) = %d bytes, %v%%: want bytes (≤ MaxInt64/2) or a finite percentage", s, b, pct)
		}
		if b == 0 {
			return
		}
		if back, _, err := ParseMemory("--size", strconv.FormatUint(b, 10), "a range"); err != nil || back != b {
			t.Errorf("ParseMemory(%q) = %d bytes, but %d parses to %d, %v", s, b, b, back, err)
		}
	})
}

// FuzzParseOffset: any --offset parses to at most ±1e6h, or is refused; what it
// parses to prints (Duration.String) back to the same offset.
func FuzzParseOffset(f *testing.F) {
	for _, s := range []string{"-10m", "2h", "-3d", "1y", "10y", "11y", "1y2d3h4m5s", "0", "", "-", "+1h", "1.5d", "99999999999y", "1d-2h", "--1h"} {
		f.Add(s)
	}
	// ParseOffset only keeps the value within what a Duration holds (1e6 h, ~114y);
	// the ±10y limit is the kind's Validate, checked after it ("11y" parses).
	const most = maxOffsetHours * time.Hour
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseOffset(s)
		if err != nil {
			return
		}
		if d > most || d < -most {
			t.Fatalf("ParseOffset(%q) = %s, beyond 1e6h without an error", s, d)
		}
		if back, err := ParseOffset(d.String()); err != nil || back != d {
			t.Errorf("ParseOffset(%q) = %s, but %q parses to %s, %v", s, d, d.String(), back, err)
		}
	})
}
