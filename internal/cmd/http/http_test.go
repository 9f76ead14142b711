package http

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/cmdtest"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/http/abort"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/http/delay"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/http/httpverb"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/http/patch"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/http/replace"
	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/experiment"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
)

func newCmd(verb string, runF func(*httpverb.Options) error) func(f *factory.Factory) *cobra.Command {
	return func(f *factory.Factory) *cobra.Command {
		switch verb {
		case "abort":
			return abort.NewCmdAbort(f, runF)
		case "delay":
			return delay.NewCmdDelay(f, runF)
		case "replace":
			return replace.NewCmdReplace(f, runF)
		case "patch":
			return patch.NewCmdPatch(f, runF)
		}
		panic(verb)
	}
}

// parse runs verb with args and returns the experiment options the verb handed to runF.
func parse(t *testing.T, verb string, args []string) (*experiment.Options, error) {
	t.Helper()
	var got *experiment.Options
	err := cmdtest.Execute(newCmd(verb, func(o *httpverb.Options) error { got = o.Experiment; return nil }), args...)
	return got, err
}

func str(s string) *string { return &s }

func TestVerbFlags(t *testing.T) {
	tests := []struct {
		verb string
		args []string
		want plan.HTTP
	}{
		{"abort", []string{"deploy/web", "--port", "8080", "--path", "/api/*", "--method", "get", "--code", "503", "--body", "down",
			"--header", "Retry-After=5", "--header", "X-A=b=c", "--percent", "25"},
			plan.HTTP{Action: "abort", Port: 8080, Path: "/api/*", Method: "GET", Code: 503, Body: str("down"),
				Headers: []plan.Header{{Name: "Retry-After", Value: "5"}, {Name: "X-A", Value: "b=c"}}, Percent: 25}},
		{"abort", []string{"pod/c", "--port", "443", "--direction", "egress", "--tls", "--sni", "api.example.com,*.x.io"},
			plan.HTTP{Action: "abort", Port: 443, Direction: "egress", TLS: true, SNI: []string{"api.example.com", "*.x.io"}}},
		{"delay", []string{"pod/x", "--port", "80", "--delay", "200ms", "--include-probes"},
			plan.HTTP{Action: "delay", Port: 80, Delay: plan.Duration(200 * time.Millisecond), IncludeProbes: true}},
		{"replace", []string{"pod/x", "--port", "80", "--code", "500", "--body", ""},
			plan.HTTP{Action: "replace", Port: 80, Code: 500, Body: str("")}},
		{"patch", []string{"pod/x", "--port", "80", "--body", `{"a":null}`, "--direction", "egress"},
			plan.HTTP{Action: "patch", Port: 80, Body: str(`{"a":null}`), Direction: "egress"}},
	}
	for _, tt := range tests {
		t.Run(tt.verb+" "+strings.Join(tt.args, " "), func(t *testing.T) {
			o, err := parse(t, tt.verb, tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if o.Fault.Kind != plan.KindHTTP || o.Fault.Action != tt.verb {
				t.Errorf("fault = %s/%s", o.Fault.Kind, o.Fault.Action)
			}
			if diff := cmp.Diff(&tt.want, o.Fault.HTTP, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("spec (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBadInput: every refusal names the flag (and the range), is a usage error, and
// happens before anything is created (runF is never reached).
func TestBadInput(t *testing.T) {
	tests := []struct {
		verb string
		args []string
		want string
	}{
		{"abort", []string{"pod/x", "--code", "503"}, "port"},
		{"abort", []string{"pod/x", "--port", "0"}, "--port must be in 1-65535"},
		{"abort", []string{"pod/x", "--port", "70000"}, "--port must be in 1-65535"},
		{"abort", []string{"pod/x", "--port", "80", "--code", "99"}, "--code must be in [100, 599]"},
		{"abort", []string{"pod/x", "--port", "80", "--code", "600"}, "--code must be in [100, 599]"},
		{"abort", []string{"pod/x", "--port", "80", "--percent", "0"}, "--percent must be in (0, 100]"},
		{"abort", []string{"pod/x", "--port", "80", "--percent", "101"}, "--percent must be in (0, 100]"},
		{"abort", []string{"pod/x", "--port", "80", "--path", "api"}, "--path"},
		{"abort", []string{"pod/x", "--port", "80", "--path", "/api/[x"}, "--path"},
		{"abort", []string{"pod/x", "--port", "80", "--method", "g et"}, "--method"},
		{"abort", []string{"pod/x", "--port", "80", "--code", "503", "--header", "NoValue"}, "--header \"NoValue\": want NAME=VALUE"},
		{"abort", []string{"pod/x", "--port", "80", "--code", "503", "--header", "Bad Name=1"}, "--header"},
		{"abort", []string{"pod/x", "--port", "80", "--body", "x"}, "--code"},
		{"abort", []string{"pod/x", "--port", "80", "--direction", "up"}, "--direction"},
		{"abort", []string{"pod/x", "--port", "80", "--direction", "egress", "--include-probes"}, "--include-probes"},
		{"abort", []string{"pod/x", "--port", "443", "--tls"}, "--sni"},
		{"abort", []string{"pod/x", "--port", "443", "--tls", "--sni", "a..b"}, "--sni"},
		{"abort", []string{"pod/x", "--port", "443", "--sni", "a.com"}, "--tls"},
		{"abort", []string{"pod/x", "--port", "443", "--tls", "--sni", "a.com", "--code", "503"}, "--tls"},
		{"delay", []string{"pod/x", "--port", "80"}, "delay"},
		{"delay", []string{"pod/x", "--port", "80", "--delay", "0s"}, "--delay must be in (0, 1m0s]"},
		{"delay", []string{"pod/x", "--port", "80", "--delay", "2m"}, "--delay must be in (0, 1m0s]"},
		{"replace", []string{"pod/x", "--port", "80"}, "--code, --body or --header"},
		{"replace", []string{"pod/x", "--port", "80", "--code", "1000"}, "--code must be in [100, 599]"},
		{"patch", []string{"pod/x", "--port", "80"}, "--header"},
		{"patch", []string{"pod/x", "--port", "80", "--body", "{not json"}, "--body"},
		{"patch", []string{"pod/x", "--port", "80", "--body", strings.Repeat("1", 70000)}, "--body is 70000 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.verb+" "+strings.Join(tt.args, " "), func(t *testing.T) {
			o, err := parse(t, tt.verb, tt.args)
			if err == nil {
				t.Fatalf("accepted; want an error naming %s (options %+v)", tt.want, o)
			}
			if o != nil {
				t.Errorf("the run was reached")
			}
			if exit.Code(err) != exit.Usage {
				t.Errorf("exit code %d, want %d (usage)", exit.Code(err), exit.Usage)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %s", err, tt.want)
			}
		})
	}
}

func webPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "default", Labels: map[string]string{"app": "web"}, UID: "uid-web-1"},
		Spec:       corev1.PodSpec{NodeName: "node-a", Containers: []corev1.Container{{Name: "app", Image: "nginx"}}},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: "10.0.0.1", PodIPs: []corev1.PodIP{{IP: "10.0.0.1"}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", ContainerID: "containerd://" + strings.Repeat("a", 64),
				Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}},
		},
	}
}

// TestDryRun: the plan shows the redirect (TPROXY with its policy routing for ingress, a
// NAT redirect and the conntrack cleanup for egress) and the listener, and creates nothing.
func TestDryRun(t *testing.T) {
	for _, tt := range []struct {
		verb      string
		args      []string
		want, not []string
	}{
		{"abort", []string{"pod/web-1", "--port", "8080", "--path", "/api/*", "--code", "503", "--dry-run"},
			[]string{"abort 503 :8080 /api/*", "table inet kubectl_chaos_http_<experiment>_<hash> { flags owner; }",
				"ip -4 rule add fwmark 0x4b43<hash> lookup <mark>", "ip -6 route add local ::/0 dev lo table <mark>",
				"ip saddr { <node-addresses> } return", "meta l4proto tcp th dport 8080 tproxy ip to :<listener-port> accept",
				"transparent HTTP/1.1 proxy", "TPROXY'd connections only", "removed by"},
			[]string{"redirect to", "conntrack entries"}},
		{"delay", []string{"pod/web-1", "--port", "443", "--direction", "egress", "--tls", "--sni", "api.example.com", "--delay", "1s", "--dry-run"},
			[]string{"delay 1s :443 tls sni api.example.com egress", "oifname \"lo\" return", "th dport 443 ct mark set 0x4b43<hash> redirect to :<listener-port>",
				"TLS ClientHello inspector", "nothing is decrypted", "conntrack entries of redirected connections", "SO_MARK"},
			[]string{"tproxy", "fwmark"}},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			c := fake.NewClientset(webPod())
			io, _, out, _ := ui.Test()
			f := factory.NewFake(io, c, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), nil)
			cmd := newCmd(tt.verb, nil)(f)
			cmd.SetArgs(tt.args)
			cmd.SilenceErrors, cmd.SilenceUsage = true, true
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			for _, a := range c.Actions() {
				if v := a.GetVerb(); v != "get" && v != "list" && v != "watch" {
					t.Errorf("dry-run made a %s of %s", v, a.GetResource().Resource)
				}
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("dry-run lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tt.not {
				if strings.Contains(out.String(), w) {
					t.Errorf("dry-run has %q:\n%s", w, out.String())
				}
			}
		})
	}
}
