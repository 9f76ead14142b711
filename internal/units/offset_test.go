package units

import (
	"testing"
	"time"
)

func TestParseOffset(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"-10m": -10 * time.Minute, "2h": 2 * time.Hour, "1d": 24 * time.Hour, "-1.5d": -36 * time.Hour,
		"10y": 87600 * time.Hour, "1y2d3h": (365*24 + 2*24 + 3) * time.Hour, "+90s": 90 * time.Second,
	} {
		got, err := ParseOffset(in)
		if err != nil || got != want {
			t.Errorf("ParseOffset(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
}
