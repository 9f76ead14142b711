package experiment

import (
	"strings"
	"testing"
	"time"
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
		{"0", 0, "--rate must be"},
		{"0mbit", 0, "--rate must be"},
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

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := NewID()
		if len(id) != len("chaos-")+8 || !strings.HasPrefix(id, "chaos-") {
			t.Fatalf("NewID() = %q, want chaos-XXXXXXXX", id)
		}
		for _, c := range id[6:] {
			if !strings.ContainsRune(idAlphabet, c) {
				t.Fatalf("NewID() = %q has %q outside lowercase base32", id, c)
			}
		}
		seen[id] = true
	}
	if len(seen) < 999 {
		t.Errorf("1000 IDs gave only %d distinct values", len(seen))
	}
}

func TestFmtDur(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour: "1h", 90 * time.Minute: "1h30m", 30 * time.Second: "30s", 10 * time.Minute: "10m",
		-5 * time.Minute: "-5m", 168 * time.Hour: "168h", 1500 * time.Millisecond: "1.5s",
	} {
		if got := fmtDur(d); got != want {
			t.Errorf("fmtDur(%v) = %q, want %q", d, got, want)
		}
	}
}
