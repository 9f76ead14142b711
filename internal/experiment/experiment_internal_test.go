package experiment

import (
	"strings"
	"testing"
	"time"
)

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
