package redirect

import (
	"fmt"
	"strings"
)

// Limits of name patterns (DNS --pattern, TLS --sni).
const (
	MaxPatterns   = 64
	maxNameLength = 253
)

// Names matches domain names against patterns: case-insensitive, a trailing dot
// ignored; '*' matches any run of characters within one label, '?' one character; a
// pattern that starts with "*." matches names with one or more labels in its place
// ("*.example.com" matches a.example.com and a.b.example.com, not example.com).
type Names struct {
	pats [][]string // labels, reversed; a leading "**" label for a "*." prefix
}

// ParseNames checks and compiles patterns; flag names the CLI flag in errors.
func ParseNames(flag string, patterns []string) (*Names, error) {
	if len(patterns) == 0 {
		return nil, fmt.Errorf("%s is required: give one or more name patterns, e.g. 'payments.*.svc.cluster.local,example.com'", flag)
	}
	if len(patterns) > MaxPatterns {
		return nil, fmt.Errorf("%s: at most %d patterns, got %d", flag, MaxPatterns, len(patterns))
	}
	n := &Names{}
	for _, p := range patterns {
		labels, err := parsePattern(p)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", flag, p, err)
		}
		n.pats = append(n.pats, labels)
	}
	return n, nil
}

func parsePattern(p string) ([]string, error) {
	s := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(p)), ".")
	if s == "" {
		return nil, fmt.Errorf("empty pattern")
	}
	if len(s) > maxNameLength {
		return nil, fmt.Errorf("longer than %d characters", maxNameLength)
	}
	labels := strings.Split(s, ".")
	var out []string
	for i, l := range labels {
		if l == "" {
			return nil, fmt.Errorf("empty label (two dots in a row, or a leading dot)")
		}
		if len(l) > 63 {
			return nil, fmt.Errorf("label %q is longer than 63 characters", l)
		}
		for _, r := range l {
			ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '*' || r == '?'
			if !ok {
				return nil, fmt.Errorf("character %q is not allowed (letters, digits, '-', '_', and the wildcards '*' '?')", r)
			}
		}
		if i == 0 && l == "*" && len(labels) > 1 {
			l = "**"
		}
		out = append(out, l)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// Match reports whether name matches any pattern.
func (n *Names) Match(name string) bool {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	if name == "" {
		return false
	}
	labels := strings.Split(name, ".")
	for i, j := 0, len(labels)-1; i < j; i, j = i+1, j-1 {
		labels[i], labels[j] = labels[j], labels[i]
	}
	for _, p := range n.pats {
		if matchLabels(p, labels) {
			return true
		}
	}
	return false
}

func matchLabels(p, labels []string) bool {
	for i, pl := range p {
		if pl == "**" { // the last pattern label (first in the name): one or more labels
			return len(labels) > i
		}
		if i >= len(labels) || !glob(pl, labels[i]) {
			return false
		}
	}
	return len(labels) == len(p)
}

// glob matches s against a pattern with '*' (any run) and '?' (one character).
func glob(p, s string) bool {
	px, sx := 0, 0
	star, mark := -1, 0
	for sx < len(s) {
		switch {
		case px < len(p) && (p[px] == '?' || p[px] == s[sx]):
			px++
			sx++
		case px < len(p) && p[px] == '*':
			star, mark = px, sx
			px++
		case star >= 0:
			px = star + 1
			mark++
			sx = mark
		default:
			return false
		}
	}
	for px < len(p) && p[px] == '*' {
		px++
	}
	return px == len(p)
}
