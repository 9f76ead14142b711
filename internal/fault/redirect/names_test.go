package redirect

import (
	"strings"
	"testing"
)

func TestNames(t *testing.T) {
	n, err := ParseNames("--pattern", []string{"payments.*.svc.cluster.local", "*.example.com", "Exact.ORG.", "a?c.test"})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{
		"payments.shop.svc.cluster.local.":  true,
		"payments.svc.cluster.local":        false, // '*' is one label
		"payments.a.b.svc.cluster.local":    false,
		"x.payments.shop.svc.cluster.local": false,
		"a.example.com":                     true,
		"a.b.example.com.":                  true,
		"example.com":                       false,
		"exact.org":                         true,
		"EXACT.org.":                        true,
		"sub.exact.org":                     false,
		"abc.test":                          true,
		"ac.test":                           false,
		"":                                  false,
	} {
		if got := n.Match(name); got != want {
			t.Errorf("Match(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestParseNamesRefuses(t *testing.T) {
	for _, tt := range []struct {
		pats []string
		want string
	}{
		{nil, "is required"},
		{[]string{""}, "empty pattern"},
		{[]string{"a..b"}, "empty label"},
		{[]string{".a"}, "empty label"},
		{[]string{"a b"}, "not allowed"},
		{[]string{"a/b"}, "not allowed"},
		{[]string{strings.Repeat("a", 64) + ".com"}, "longer than 63"},
		{[]string{strings.Repeat("a.", 130) + "com"}, "longer than 253"},
		{make([]string, MaxPatterns+1), "at most 64"},
	} {
		_, err := ParseNames("--pattern", tt.pats)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "--pattern") {
			t.Errorf("%q: %v, want an error naming --pattern with %q", tt.pats, err, tt.want)
		}
	}
}
