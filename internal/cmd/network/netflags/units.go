package netflags

import (
	"fmt"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/network"
	"github.com/kubectl-chaos/kubectl-chaos/internal/units"
)

// The range is network.Validate's; the parse errors say it too, so every message about
// the flag names what it accepts. The parsers are in internal/units (fuzzed there).
var rateHelp = fmt.Sprintf("a rate like tc's in [%dbit, %dgbit]: 100kbit, 1mbit, 1gbit (bits/s), 1mbps (bytes/s), 1mibit",
	network.MinRate, network.MaxRate/1_000_000_000)

// ParseRate parses a tc rate into bits per second (rounded); errors name flag and
// the range network.Validate accepts.
func ParseRate(flag, s string) (uint64, error) { return units.ParseRate(flag, s, rateHelp) }

// ParseSize parses a tc size into bytes, 0 for "" (0 in the spec means "derived").
func ParseSize(flag, s string) (uint32, error) { return units.ParseSize(flag, s) }
