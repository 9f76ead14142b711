package plan

import (
	"regexp"
	"testing"
)

// TestSanitizeAsTheRegexp: Target.ID (the journal's file names) is what the regexp
// `[^A-Za-z0-9.-]` replaced with "-" gave, rune by rune, invalid UTF-8 byte by byte.
func TestSanitizeAsTheRegexp(t *testing.T) {
	re := regexp.MustCompile(`[^A-Za-z0-9.-]`)
	for _, s := range []string{"", "web-1", "kube_system", "a/b:c", "ns.with.dots", "héllo", "日本", "x\xffy\xfe", "A-Z_0.9 ~", "\x00"} {
		if got, want := sanitize(s), re.ReplaceAllString(s, "-"); got != want {
			t.Errorf("sanitize(%q) = %q, the regexp gave %q", s, got, want)
		}
	}
}
