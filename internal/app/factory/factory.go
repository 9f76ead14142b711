// Package factory hands commands what they need from the outside world — streams,
// kubeconfig flags, Kubernetes clients, the attacher, the clock — lazily: nothing is
// loaded or dialled until a command asks, so `--help` and validation never touch a
// cluster. Tests build a Factory with fakes.
package factory

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/history"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Factory is shared by every command of one invocation.
type Factory struct {
	IOStreams *ui.IOStreams
	// ConfigFlags are the standard kubeconfig flags (--kubeconfig, --context, -n, --as…).
	ConfigFlags *genericclioptions.ConfigFlags

	// KubeClient returns the clientset (built on first call).
	KubeClient func() (kubernetes.Interface, error)
	// EventClient returns a second clientset for the Kubernetes Events on target pods:
	// its own client-side rate limiter, so Events never take the tokens the fault's
	// own requests need (built on first call).
	EventClient func() (kubernetes.Interface, error)
	// RESTConfig returns the REST config (loaded on first call).
	RESTConfig func() (*rest.Config, error)
	// Namespace is -n, else the kubeconfig context's namespace, else "default".
	Namespace func() (string, error)
	// Owner names who runs the experiment: "user@context" from the kubeconfig.
	Owner func() string
	// Attacher connects to helper pods' stdin/stdout.
	Attacher func() (session.Attacher, error)
	// Now is the clock.
	Now func() time.Time
	// StateDir is the local state directory (history, scenario locks); "" when there is
	// none (tests, no home directory): nothing is recorded then.
	StateDir func() string
}

// New returns the real Factory for streams.
func New(streams *ui.IOStreams) *Factory {
	cf := genericclioptions.NewConfigFlags(true)
	f := &Factory{IOStreams: streams, ConfigFlags: cf, Now: time.Now}
	f.StateDir = func() string {
		d, err := history.StateDir()
		if err != nil {
			slog.Debug("no local state directory", "err", err)
		}
		return d
	}

	restConfig := sync.OnceValues(func() (*rest.Config, error) {
		cfg, err := cf.ToRESTConfig()
		if err != nil {
			return nil, exit.APIError(fmt.Errorf("loading kubeconfig (see --kubeconfig, --context): %w", err))
		}
		return cfg, nil
	})
	f.RESTConfig = restConfig
	f.KubeClient = sync.OnceValues(func() (kubernetes.Interface, error) {
		cfg, err := restConfig()
		if err != nil {
			return nil, err
		}
		c, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return nil, exit.APIError(fmt.Errorf("building the Kubernetes client: %w", err))
		}
		return c, nil
	})
	f.EventClient = sync.OnceValues(func() (kubernetes.Interface, error) {
		cfg, err := restConfig()
		if err != nil {
			return nil, err
		}
		cfg = rest.CopyConfig(cfg)
		// The Recorder paces itself (internal/podevents); this only bounds a burst.
		cfg.QPS, cfg.Burst, cfg.RateLimiter = 50, 100, nil
		c, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return nil, exit.APIError(fmt.Errorf("building the Kubernetes client for Events: %w", err))
		}
		return c, nil
	})
	f.Namespace = func() (string, error) {
		ns, _, err := cf.ToRawKubeConfigLoader().Namespace()
		if err != nil {
			return "", exit.APIError(fmt.Errorf("reading the namespace from the kubeconfig: %w", err))
		}
		return ns, nil
	}
	f.Owner = func() string { return Owner(cf) }
	f.Attacher = func() (session.Attacher, error) {
		cfg, err := restConfig()
		if err != nil {
			return nil, err
		}
		return session.NewAttacher(cfg), nil
	}
	return f
}

// Owner is "user@context" for the kubeconfig the flags select; --as wins for the user.
// Parts that cannot be read are "unknown".
func Owner(cf *genericclioptions.ConfigFlags) string {
	user, ctxName := "unknown", "unknown"
	raw, err := cf.ToRawKubeConfigLoader().RawConfig()
	if err == nil {
		ctxName = raw.CurrentContext
		if cf.Context != nil && *cf.Context != "" {
			ctxName = *cf.Context
		}
		if c, ok := raw.Contexts[ctxName]; ok && c.AuthInfo != "" {
			user = c.AuthInfo
		}
		if ctxName == "" {
			ctxName = "unknown"
		}
	}
	if cf.AuthInfoName != nil && *cf.AuthInfoName != "" {
		user = *cf.AuthInfoName
	}
	if cf.Impersonate != nil && *cf.Impersonate != "" {
		user = *cf.Impersonate
	}
	return user + "@" + ctxName
}

// NewFake returns a Factory for tests: the given clientset (a fake), no kubeconfig, a
// fixed owner and clock. Calls to KubeClient are counted in *clientCalls when not nil.
func NewFake(streams *ui.IOStreams, c kubernetes.Interface, now time.Time, clientCalls *int) *Factory {
	cf := genericclioptions.NewConfigFlags(false)
	client := func() (kubernetes.Interface, error) {
		if clientCalls != nil {
			*clientCalls++
		}
		if c == nil {
			return nil, exit.APIError(fmt.Errorf("no cluster in this test"))
		}
		return c, nil
	}
	return &Factory{
		IOStreams:   streams,
		ConfigFlags: cf,
		KubeClient:  client,
		// The same fake: tests see the Events next to the pods (and check their RBAC).
		EventClient: client,
		RESTConfig:  func() (*rest.Config, error) { return &rest.Config{Host: "https://fake.invalid"}, nil },
		Namespace: func() (string, error) {
			if cf.Namespace != nil && *cf.Namespace != "" {
				return *cf.Namespace, nil
			}
			return "default", nil
		},
		Owner:    func() string { return "tester@fake" },
		Attacher: func() (session.Attacher, error) { return nil, exit.APIError(fmt.Errorf("no attacher in this test")) },
		Now:      func() time.Time { return now },
		StateDir: func() string { return "" },
	}
}
