package netflags

import (
	"strings"
	"testing"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		in      string
		want    uint64
		wantErr string
	}{
		{"1mbit", 1_000_000, ""},
		{"500kbit", 500_000, ""},
		{"1gbit", 1_000_000_000, ""},
		{"1.5mbit", 1_500_000, ""},
		{"100", 100, ""},
		{"100bit", 100, ""},
		{"1mbps", 8_000_000, ""},
		{"1kbps", 8_000, ""},
		{"1bps", 8, ""},
		{"1mibit", 1 << 20, ""},
		{"1MBIT", 1_000_000, ""},
		// The range ([8bit, 100gbit]) is network.Validate's: parsing only parses.
		{"0", 0, ""},
		{"0mbit", 0, ""},
		{"99999999999tbps", 0, "too large"},
		{"", 0, "--rate must be"},
		{"fast", 0, "--rate must be"},
		{"-1mbit", 0, "--rate must be"},
		{"1furlong", 0, `unknown rate unit "furlong"`},
	}
	for _, tt := range tests {
		got, err := ParseRate("--rate", tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseRate(%q) error = %v, want containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    uint32
		wantErr string
	}{
		{"", 0, ""},
		{"1500", 1500, ""},
		{"1500b", 1500, ""},
		{"32kb", 32 << 10, ""},
		{"32k", 32 << 10, ""},
		{"1mb", 1 << 20, ""},
		{"64kbit", 8 << 10, ""},
		{"0", 0, "--limit must be between"},
		{"5gb", 0, "--limit must be between"},
		{"12parsecs", 0, "unknown size unit"},
		{"kb", 0, "--limit must be"},
	}
	for _, tt := range tests {
		got, err := ParseSize("--limit", tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseSize(%q) error = %v, want containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}
