package units

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// rateUnits are tc's rate units (tc(8) "RATES"), in bits per second. Bare numbers are
// bits per second, as in tc.
var rateUnits = map[string]float64{
	"":      1,
	"bit":   1,
	"kbit":  1e3,
	"mbit":  1e6,
	"gbit":  1e9,
	"tbit":  1e12,
	"kibit": 1 << 10,
	"mibit": 1 << 20,
	"gibit": 1 << 30,
	"tibit": 1 << 40,
	"bps":   8,
	"kbps":  8e3,
	"mbps":  8e6,
	"gbps":  8e9,
	"tbps":  8e12,
	"kibps": 8 << 10,
	"mibps": 8 << 20,
	"gibps": 8 << 30,
	"tibps": 8 << 40,
}

// sizeUnits are tc's size units (tc(8) "SIZES"), in bytes. Bare numbers are bytes.
var sizeUnits = map[string]float64{
	"":     1,
	"b":    1,
	"k":    1 << 10,
	"kb":   1 << 10,
	"m":    1 << 20,
	"mb":   1 << 20,
	"g":    1 << 30,
	"gb":   1 << 30,
	"kbit": (1 << 10) / 8.0,
	"mbit": (1 << 20) / 8.0,
	"gbit": (1 << 30) / 8.0,
}

// SizeHelp is what ParseSize accepts: the spec's 32 bits.
const SizeHelp = "a size like tc's between 1 byte and 4gb: 1500, 32kb, 1mb, 64kbit"

func splitNumber(s string) (num float64, unit string, err error) {
	s = strings.ToLower(strings.TrimSpace(s))
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	if i == 0 {
		return 0, "", fmt.Errorf("no number")
	}
	num, err = strconv.ParseFloat(s[:i], 64)
	if err != nil {
		return 0, "", err
	}
	return num, s[i:], nil
}

// ParseRate parses a tc rate into bits per second (rounded). flag names the flag and
// help says what it accepts, for errors. The range itself is the fault's Validate;
// only what a uint64 cannot hold is refused here.
func ParseRate(flag, s, help string) (uint64, error) {
	num, unit, err := splitNumber(s)
	if err != nil {
		return 0, fmt.Errorf("%s must be %s, got %q", flag, help, s)
	}
	mul, ok := rateUnits[unit]
	if !ok {
		return 0, fmt.Errorf("%s: unknown rate unit %q in %q (use bit, kbit, mbit, gbit, bps, kbps, mbps, gbps, kibit, mibit…; %s)", flag, unit, s, help)
	}
	v := num * mul
	if v > math.MaxUint64/2 {
		return 0, fmt.Errorf("%s: %q is too large: want %s", flag, s, help)
	}
	return uint64(math.Round(v)), nil
}

// ParseSize parses a tc size into bytes, 0 for "" (0 in the spec means "derived", so a
// size must be at least one byte; at most what the spec's 32 bits hold). flag names the
// flag for errors.
func ParseSize(flag, s string) (uint32, error) {
	if strings.TrimSpace(s) == "" {
		return 0, nil
	}
	num, unit, err := splitNumber(s)
	if err != nil {
		return 0, fmt.Errorf("%s must be %s, got %q", flag, SizeHelp, s)
	}
	mul, ok := sizeUnits[unit]
	if !ok {
		return 0, fmt.Errorf("%s: unknown size unit %q in %q (use b, kb, mb, gb, kbit, mbit; between 1 byte and 4gb)", flag, unit, s)
	}
	v := math.Round(num * mul)
	if v < 1 || v > math.MaxUint32 {
		return 0, fmt.Errorf("%s must be between 1 byte and 4gb, got %q", flag, s)
	}
	return uint32(v), nil
}
