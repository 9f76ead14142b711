package target

import (
	"strconv"
	"strings"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

// DefaultMaxTargets is the default of --max-targets.
const DefaultMaxTargets = 50

// DefaultContainerAnnotation names a pod's default container (as kubectl uses it).
const DefaultContainerAnnotation = "kubectl.kubernetes.io/default-container"

// SystemNamespaces are refused unless --allow-system.
var SystemNamespaces = []string{"kube-system", "kube-public", "kube-node-lease"}

// Kind is a normalized resource kind of a TYPE/NAME argument.
type Kind string

// The kinds a TYPE/NAME argument may name.
const (
	KindPod         Kind = "pod"
	KindDeployment  Kind = "deployment"
	KindStatefulSet Kind = "statefulset"
	KindDaemonSet   Kind = "daemonset"
	KindReplicaSet  Kind = "replicaset"
	KindJob         Kind = "job"
	KindService     Kind = "service"
)

// kinds maps every accepted spelling (lower case, optionally with its API group as
// `kubectl get -o name` prints it) to its kind.
var kinds = map[string]Kind{
	"pod": KindPod, "pods": KindPod, "po": KindPod,
	"deployment": KindDeployment, "deployments": KindDeployment, "deploy": KindDeployment,
	"deployment.apps": KindDeployment, "deployments.apps": KindDeployment,
	"statefulset": KindStatefulSet, "statefulsets": KindStatefulSet, "sts": KindStatefulSet,
	"statefulset.apps": KindStatefulSet, "statefulsets.apps": KindStatefulSet,
	"daemonset": KindDaemonSet, "daemonsets": KindDaemonSet, "ds": KindDaemonSet,
	"daemonset.apps": KindDaemonSet, "daemonsets.apps": KindDaemonSet,
	"replicaset": KindReplicaSet, "replicasets": KindReplicaSet, "rs": KindReplicaSet,
	"replicaset.apps": KindReplicaSet, "replicasets.apps": KindReplicaSet,
	"job": KindJob, "jobs": KindJob, "job.batch": KindJob, "jobs.batch": KindJob,
	"service": KindService, "services": KindService, "svc": KindService,
}

// shortKind is how a kind is displayed in messages (the way users type it).
var shortKind = map[Kind]string{
	KindPod: "pod", KindDeployment: "deploy", KindStatefulSet: "sts", KindDaemonSet: "ds",
	KindReplicaSet: "rs", KindJob: "job", KindService: "svc",
}

const acceptedKinds = "pod, deploy, sts, ds, rs, job, svc (or their long names)"

// Ref is one parsed target argument.
type Ref struct {
	Kind Kind
	Name string
	Bare bool // a bare pod name (no TYPE/)
}

// String is the reference the way users type it: deploy/web, pod/x, or x for a bare name.
func (r Ref) String() string {
	if r.Bare {
		return r.Name
	}
	return shortKind[r.Kind] + "/" + r.Name
}

// ParseRef parses TYPE/NAME or a bare pod name. Errors are exit.UsageError.
func ParseRef(arg string) (Ref, error) {
	typ, name, hasType := strings.Cut(arg, "/")
	if !hasType {
		if err := checkName(arg, arg); err != nil {
			return Ref{}, err
		}
		return Ref{Kind: KindPod, Name: arg, Bare: true}, nil
	}
	k, ok := kinds[strings.ToLower(typ)]
	if !ok {
		return Ref{}, exit.Usagef("target %q: unknown resource type %q; accepted: %s", arg, typ, acceptedKinds)
	}
	if err := checkName(arg, name); err != nil {
		return Ref{}, err
	}
	return Ref{Kind: k, Name: name}, nil
}

func checkName(arg, name string) error {
	if name == "" {
		return exit.Usagef("target %q: empty name; use TYPE/NAME, e.g. deploy/web", arg)
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return exit.Usagef("target %q: %q is not a valid object name: %s", arg, name, errs[0])
	}
	return nil
}

// Mode is a parsed --mode.
type Mode struct {
	Kind    string  // "one", "all", "fixed", "percent", "random-max-percent"
	N       int     // fixed=N
	Percent float64 // percent=P
}

func (m Mode) String() string {
	switch m.Kind {
	case "fixed":
		return "fixed=" + strconv.Itoa(m.N)
	case "percent", "random-max-percent":
		return m.Kind + "=" + strconv.FormatFloat(m.Percent, 'g', -1, 64)
	}
	return m.Kind
}

const acceptedModes = "one, all, fixed=N (N ≥ 1), percent=P or random-max-percent=P (0 < P ≤ 100)"

// ParseMode parses --mode; "" means all.
func ParseMode(s string) (Mode, error) {
	bad := func() (Mode, error) {
		return Mode{}, exit.Usagef("--mode %q: accepted values are %s", s, acceptedModes)
	}
	switch s {
	case "", "all":
		return Mode{Kind: "all"}, nil
	case "one":
		return Mode{Kind: "one"}, nil
	}
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return bad()
	}
	switch k {
	case "fixed":
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return bad()
		}
		return Mode{Kind: "fixed", N: n}, nil
	case "percent", "random-max-percent":
		p, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
		if err != nil || !(p > 0 && p <= 100) {
			return bad()
		}
		return Mode{Kind: k, Percent: p}, nil
	}
	return bad()
}

// Validate checks the options without the cluster. Errors name the flag and the
// accepted values, and are exit.UsageError.
func (o *Options) Validate() error {
	_, err := o.parse()
	return err
}

// parsed is the validated form of Options.
type parsed struct {
	refs   []Ref // deduplicated, in argument order
	labels labels.Selector
	fields fields.Selector
	mode   Mode
	filter *filters
}

func (o *Options) parse() (*parsed, error) {
	p := &parsed{}
	seen := map[Ref]bool{}
	for _, a := range o.Args {
		r, err := ParseRef(a)
		if err != nil {
			return nil, err
		}
		if r.Bare {
			r.Bare = false // pod/x and x are the same target
			if seen[r] {
				continue
			}
			seen[r] = true
			r.Bare = true
		} else {
			if seen[r] {
				continue
			}
			seen[r] = true
		}
		p.refs = append(p.refs, r)
	}
	if o.LabelSelector != "" {
		s, err := labels.Parse(o.LabelSelector)
		if err != nil {
			return nil, exit.Usagef("-l/--selector %q: %v (e.g. app=web,tier!=db or 'env in (a,b)')", o.LabelSelector, firstLine(err))
		}
		p.labels = s
	}
	if o.FieldSelector != "" {
		s, err := fields.ParseSelector(o.FieldSelector)
		if err != nil {
			return nil, exit.Usagef("--field-selector %q: %v (e.g. spec.nodeName=node-1,status.phase=Running)", o.FieldSelector, firstLine(err))
		}
		p.fields = s
	}
	if len(p.refs) == 0 && p.labels == nil && p.fields == nil {
		return nil, exit.Usagef("no targets given: pass TYPE/NAME, pod names, -l or --field-selector")
	}
	if o.AllNamespaces && len(p.refs) > 0 {
		return nil, exit.Usagef("-A/--all-namespaces cannot be combined with TYPE/NAME or pod names (%s): use -n, or -l/--field-selector with -A", p.refs[0])
	}
	if o.Namespace != "" && !o.AllNamespaces {
		if errs := validation.IsDNS1123Label(o.Namespace); len(errs) > 0 {
			return nil, exit.Usagef("-n/--namespace %q: not a valid namespace name: %s", o.Namespace, errs[0])
		}
	}
	m, err := ParseMode(o.Mode)
	if err != nil {
		return nil, err
	}
	p.mode = m
	if p.filter, err = parseFilters(o); err != nil {
		return nil, err
	}
	if o.MaxTargets < 1 {
		return nil, exit.Usagef("--max-targets=%d: must be at least 1 (default %d)", o.MaxTargets, DefaultMaxTargets)
	}
	if o.Container != "" {
		if errs := validation.IsDNS1123Label(o.Container); len(errs) > 0 {
			return nil, exit.Usagef("-c/--container %q: not a valid container name: %s", o.Container, errs[0])
		}
	}
	return p, nil
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
