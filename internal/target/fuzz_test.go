package target

import (
	"testing"
)

// FuzzOptionsValidate: target arguments, -l and --field-selector, -n and --mode as a
// user could type them; validation refuses or accepts, never panics.
func FuzzOptionsValidate(f *testing.F) {
	f.Add("deploy/web", "app=web,tier!=db", "spec.nodeName=node-1", "default", "fixed=2")
	f.Add("pod/", "app==,=", "spec.nodeName", "Bad_NS", "percent=101")
	f.Add("svc/a/b", "env in (a,b)", "status.phase!=Running", "", "one")
	f.Add("x", "!app", "a=b,c==d", "kube-system", "percent=NaN")
	f.Add("widget/x", "a in (", "=", "-", "fixed=99999999999999999999")
	f.Fuzz(func(t *testing.T, arg, label, field, ns, mode string) {
		o := &Options{Args: []string{arg}, LabelSelector: label, FieldSelector: field, Namespace: ns, Mode: mode, MaxTargets: 1}
		_ = o.Validate()
		if m, err := ParseMode(mode); err == nil {
			if (m.Kind == "fixed" && m.N < 1) || (m.Kind == "percent" && !(m.Percent > 0 && m.Percent <= 100)) {
				t.Errorf("ParseMode(%q) = %+v accepted out of range", mode, m)
			}
		}
	})
}
