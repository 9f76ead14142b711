package factory

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
	"github.com/spf13/pflag"
)

const kubeconfig = `apiVersion: v1
kind: Config
current-context: dev
contexts:
- name: dev
  context: {cluster: c1, user: alice, namespace: team-a}
- name: prod
  context: {cluster: c1, user: bob}
clusters:
- name: c1
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: alice
  user: {token: tok-x}
- name: bob
  user: {token: tok-y}
`

func TestNamespaceAndOwnerFromKubeconfig(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(p, []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		flags     []string
		namespace string
		owner     string
	}{
		{nil, "team-a", "alice@dev"},
		{[]string{"-n", "other"}, "other", "alice@dev"},
		{[]string{"--context", "prod"}, "default", "bob@prod"},
		{[]string{"--context", "prod", "--as", "carol"}, "default", "carol@prod"},
	}
	for _, tt := range tests {
		io, _, _, _ := ui.Test()
		f := New(io)
		fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
		f.ConfigFlags.AddFlags(fs)
		if err := fs.Parse(append([]string{"--kubeconfig", p}, tt.flags...)); err != nil {
			t.Fatal(err)
		}
		ns, err := f.Namespace()
		if err != nil || ns != tt.namespace {
			t.Errorf("%v: namespace %q (%v), want %q", tt.flags, ns, err, tt.namespace)
		}
		if got := f.Owner(); got != tt.owner {
			t.Errorf("%v: owner %q, want %q", tt.flags, got, tt.owner)
		}
	}
}

// withKubeconfig is the real Factory with --kubeconfig on the test kubeconfig.
func withKubeconfig(t *testing.T) *Factory {
	io, _, _, _ := ui.Test()
	f := New(io)
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	f.ConfigFlags.AddFlags(fs)
	p := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(p, []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = fs.Parse([]string{"--kubeconfig", p})
	return f
}

func TestLazy(t *testing.T) {
	f := withKubeconfig(t)
	// Building the clientset for a server that is not there must not dial: it only fails
	// on the first request.
	c1, err := f.KubeClient()
	if err != nil {
		t.Fatalf("KubeClient: %v", err)
	}
	c2, _ := f.KubeClient()
	if c1 != c2 {
		t.Errorf("KubeClient built twice")
	}
}

// TestRateLimit: the REST config lifts client-go's default 5 requests/s (bursts of 10)
// that made every request of a many-node session past the tenth wait 200 ms.
func TestRateLimit(t *testing.T) {
	f := withKubeconfig(t)
	cfg, err := f.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.QPS != ClientQPS || cfg.Burst != ClientBurst {
		t.Errorf("QPS %v burst %d, want %v %d", cfg.QPS, cfg.Burst, ClientQPS, ClientBurst)
	}
}
