package plan

import (
	"testing"
	"time"
)

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour: "1h", 90 * time.Minute: "1h30m", time.Minute: "1m", 30 * time.Second: "30s", 10 * time.Minute: "10m",
		-5 * time.Minute: "-5m", 168 * time.Hour: "168h", 1500 * time.Millisecond: "1.5s", 100 * time.Millisecond: "100ms",
		time.Minute + time.Nanosecond: "1m0.000000001s",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
