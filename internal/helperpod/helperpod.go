// Package helperpod builds the privileged, short-lived helper pod that runs the agent on
// one node. Build is pure: same options, same pod (golden-file tests).
package helperpod

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
	"github.com/kubectl-chaos/kubectl-chaos/internal/hostmount"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// DefaultNamespace is where helper pods live unless --helper-namespace says otherwise.
const DefaultNamespace = "kubectl-chaos"

// DefaultRuntimeSocket is the containerd socket on the node.
const DefaultRuntimeSocket = "/run/containerd/containerd.sock"

// ContainerName is the agent container's name in the helper pod.
const ContainerName = "agent"

// DefaultGrace is added to the fault duration for activeDeadlineSeconds.
const DefaultGrace = 30 * time.Second

// ServeSummary is the fault annotation of a kubectl chaos run's helper (Plan.Serve).
const ServeSummary = "steps of a kubectl chaos run"

// WarmSummary is the fault annotation of a warm helper (Plan.Warm, kubectl chaos warm).
const WarmSummary = "warm: steps of fault commands"

// TerminationGracePeriod is short: the agent recovers promptly on SIGTERM, and a long
// grace period only delays `kubectl chaos stop`.
const TerminationGracePeriod int64 = 10

// AppName is the app.kubernetes.io/name label of helper pods.
const AppName = "kubectl-chaos-agent"

// LabelAppName is the well-known name label.
const LabelAppName = "app.kubernetes.io/name"

// HostProcPath is where the node's /proc is mounted (read-only) in the helper.
const HostProcPath = "/host/proc"

// Command is what the helper container runs.
var Command = []string{"/kubectl-chaos", "agent"}

// Environment variables set from the downward API.
const (
	EnvPodName      = "POD_NAME"
	EnvPodNamespace = "POD_NAMESPACE"
	EnvPodUID       = "POD_UID"
	EnvNodeName     = "NODE_NAME"
)

// Pod Security Admission labels put on the helper namespace.
var podSecurityLabels = []string{
	"pod-security.kubernetes.io/enforce",
	"pod-security.kubernetes.io/audit",
	"pod-security.kubernetes.io/warn",
}

// Options for one helper pod.
type Options struct {
	Plan            *plan.Plan // the node's plan: experiment, node, owner, deadline, targets, fault
	Namespace       string     // helper namespace
	Image           string
	ImagePullPolicy corev1.PullPolicy // default IfNotPresent
	// Grace is added to the fault duration for activeDeadlineSeconds, so the agent's
	// own deadline fires first and recovers; default 30s.
	Grace         time.Duration
	RuntimeSocket string // host path of the container runtime socket
}

const maxName = validation.DNS1123LabelMaxLength // 63

// Name is the helper pod's name for an experiment and node (a valid DNS label). Node
// names may be long DNS subdomains: when "<experiment>-<node>" is not already a valid
// label it is lower-cased, dots and other characters become '-', it is cut to fit and a
// short hash of the original keeps distinct nodes distinct.
func Name(experiment, node string) string {
	base := experiment + "-" + node
	if len(validation.IsDNS1123Label(base)) == 0 {
		return base
	}
	return shorten(dnsLabel(base), base, maxName)
}

// NodeLabel is the value of the kubectl-chaos/node label for node: the node name if it
// fits a label value, else a cut-down name with a short hash.
func NodeLabel(node string) string {
	if len(validation.IsValidLabelValue(node)) == 0 {
		return node
	}
	b := []byte(node)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			b[i] = '-'
		}
	}
	return shorten(string(b), node, validation.LabelValueMaxLength)
}

// dnsLabel maps s onto [a-z0-9-].
func dnsLabel(s string) string {
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			b[i] = '-'
		}
	}
	return string(b)
}

// shorten returns clean cut so that clean + "-" + hash(orig) fits in max, with no
// leading or trailing '-'.
func shorten(clean, orig string, max int) string {
	sum := sha256.Sum256([]byte(orig))
	h := hex.EncodeToString(sum[:])[:8]
	keep := max - len(h) - 1
	if len(clean) > keep {
		clean = clean[:keep]
	}
	clean = strings.Trim(clean, "-._")
	if clean == "" {
		return "h" + h
	}
	return clean + "-" + h
}

// Build returns the helper pod. It does not modify o.Plan; the plan in the pod's
// environment gets Runtime.Endpoint (the socket) and JournalDir filled in when empty.
func Build(o Options) (*corev1.Pod, error) {
	if o.Plan == nil {
		return nil, errors.New("helper pod: no plan")
	}
	p := *o.Plan // the caller's plan stays as it was
	switch {
	case p.Experiment == "":
		return nil, errors.New("helper pod: the plan's experiment ID is empty")
	case p.Node == "":
		return nil, fmt.Errorf("helper pod for experiment %s: the plan's node is empty", p.Experiment)
	case p.CreatedAt.IsZero() || p.Deadline.IsZero():
		return nil, fmt.Errorf("helper pod for experiment %s: the plan's createdAt and deadline must be set", p.Experiment)
	case !p.Deadline.After(p.CreatedAt):
		return nil, fmt.Errorf("helper pod for experiment %s: deadline %s is not after createdAt %s", p.Experiment, p.Deadline.Format(time.RFC3339), p.CreatedAt.Format(time.RFC3339))
	}
	grace := o.Grace
	if grace == 0 {
		grace = DefaultGrace
	}
	if grace < 0 {
		return nil, fmt.Errorf("helper pod: grace %s is negative", grace)
	}
	socket := o.RuntimeSocket
	if socket == "" {
		socket = p.Runtime.Endpoint
	}
	if p.JournalDir == "" {
		p.JournalDir = plan.DefaultJournalDir
	}
	sk, err := place(p.Experiment, p.Node, o.Namespace, o.Image, o.ImagePullPolicy, socket, p.JournalDir)
	if err != nil {
		return nil, err
	}
	if p.Runtime.Endpoint == "" {
		p.Runtime.Endpoint = sk.socket
	} else if filepath.Dir(p.Runtime.Endpoint) != sk.socketDir {
		return nil, fmt.Errorf("helper pod: the plan's runtime endpoint %s is not in the mounted socket directory %s", p.Runtime.Endpoint, sk.socketDir)
	}
	summary := p.Fault.Summary()
	if p.Serve {
		// A run's helper takes steps of any kind on stdin, and recovers their journals
		// after a restart: it mounts what every kind needs, as a sweep helper does.
		sk.mounts = catalog.AllHostMounts()
		summary = ServeSummary
		if p.Warm {
			summary = WarmSummary
		}
	} else {
		kind, err := catalog.For(p.Fault)
		if err != nil {
			return nil, fmt.Errorf("helper pod for experiment %s: %w", p.Experiment, err)
		}
		sk.mounts = kind.HostMounts()
	}
	env, err := p.Encode()
	if err != nil {
		return nil, fmt.Errorf("encoding the plan for node %s: %w", p.Node, err)
	}
	sk.deadline = int64(math.Ceil((p.Deadline.Sub(p.CreatedAt) + grace).Seconds()))
	sk.annotations = map[string]string{
		plan.AnnotationDeadline:  p.Deadline.UTC().Format(time.RFC3339),
		plan.AnnotationFault:     summary,
		plan.AnnotationDetached:  strconv.FormatBool(p.Detached),
		plan.AnnotationStartedAt: p.CreatedAt.UTC().Format(time.RFC3339),
	}
	sk.owner = p.Owner
	pod := sk.pod()
	// The session's agent: stdin is its dead-man switch, the plan is in its environment,
	// and a failed recovery restarts it so the next one recovers from the journal.
	pod.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	c := &pod.Spec.Containers[0]
	c.Command = Command
	c.Stdin, c.StdinOnce = true, true
	if p.Warm {
		// A warm helper outlives many attaches: the end of one must not close the
		// agent's stdin. Each step has its own heartbeat lines instead (docs/agent.md).
		c.StdinOnce = false
		pod.Labels[plan.LabelWarm] = "true"
	}
	c.Env = append([]corev1.EnvVar{{Name: plan.EnvVar, Value: env}}, c.Env...)
	c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	return pod, nil
}

// place checks and fills in what every pod of ours on a node needs: an ID that is a
// label value, the namespace, the image and its pull policy, the runtime socket (its
// directory is mounted) and the journal directory.
func place(id, node, namespace, image string, pull corev1.PullPolicy, socket, journal string) (skeleton, error) {
	sk := skeleton{id: id, node: node, namespace: namespace, image: image, pull: pull, socket: socket, journal: journal}
	if image == "" {
		return sk, fmt.Errorf("helper pod for experiment %s on node %s: --image is empty; pass an agent image such as ghcr.io/kubectl-chaos/kubectl-chaos:<version>", id, node)
	}
	if errs := validation.IsValidLabelValue(id); len(errs) > 0 {
		return sk, fmt.Errorf("helper pod: experiment ID %q is not a valid label value: %s", id, errs[0])
	}
	if sk.namespace == "" {
		sk.namespace = DefaultNamespace
	}
	if errs := validation.IsDNS1123Label(sk.namespace); len(errs) > 0 {
		return sk, fmt.Errorf("--helper-namespace %q: not a valid namespace name: %s", sk.namespace, errs[0])
	}
	if sk.pull == "" {
		sk.pull = corev1.PullIfNotPresent
	}
	if sk.socket == "" {
		sk.socket = DefaultRuntimeSocket
	}
	if !filepath.IsAbs(sk.socket) {
		return sk, fmt.Errorf("helper pod: runtime socket %q is not an absolute path on the node", sk.socket)
	}
	sk.socketDir = filepath.Dir(sk.socket)
	if sk.journal == "" {
		sk.journal = plan.DefaultJournalDir
	}
	if !filepath.IsAbs(sk.journal) {
		return sk, fmt.Errorf("helper pod: journal directory %q is not an absolute path", sk.journal)
	}
	return sk, nil
}

// skeleton is what every pod of ours on a node shares, the session's helper and gc's
// sweep alike: the labels ls and gc find it by, the node binding, hostPID, the
// privileged agent container with the downward-API environment, and the host paths
// (journal, the host's /proc, the runtime socket's directory, the kinds' own mounts).
type skeleton struct {
	id, node, namespace, image string
	pull                       corev1.PullPolicy
	socket, socketDir, journal string
	mounts                     []catalog.HostMount
	deadline                   int64 // activeDeadlineSeconds
	annotations                map[string]string
	owner                      string
}

func (s skeleton) pod() *corev1.Pod {
	tgp := TerminationGracePeriod
	deadline := s.deadline
	yes := true
	no := false
	pod := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      Name(s.id, s.node),
			Namespace: s.namespace,
			Labels: map[string]string{
				plan.LabelManagedBy:  plan.ManagedByValue,
				plan.LabelExperiment: s.id,
				plan.LabelNode:       NodeLabel(s.node),
				LabelAppName:         AppName,
			},
			Annotations: s.annotations,
		},
		Spec: corev1.PodSpec{
			NodeName:    s.node,
			Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			HostPID:     true,
			// The node's network namespace (issue 17): no sandbox netns to create and no
			// CNI add/del, ≈0.4 s of every helper's start. Safe because the agent acts on
			// a target only through that target's namespace handle and opens no socket of
			// its own namespace (docs/agent.md, TestAgentInSentinelNetns). The agent resolves no
			// names: DNSPolicy Default says so (the node's resolv.conf, not cluster DNS).
			HostNetwork:                   true,
			DNSPolicy:                     corev1.DNSDefault,
			EnableServiceLinks:            &no,
			AutomountServiceAccountToken:  &no,
			ActiveDeadlineSeconds:         &deadline,
			TerminationGracePeriodSeconds: &tgp,
			Containers: []corev1.Container{{
				Name:            ContainerName,
				Image:           s.image,
				ImagePullPolicy: s.pull,
				SecurityContext: &corev1.SecurityContext{Privileged: &yes},
				Env: []corev1.EnvVar{
					fieldEnv(EnvPodName, "metadata.name"),
					fieldEnv(EnvPodNamespace, "metadata.namespace"),
					fieldEnv(EnvPodUID, "metadata.uid"),
					fieldEnv(EnvNodeName, "spec.nodeName"),
				},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{
						corev1.ResourceCPU:    resource.MustParse("10m"),
						corev1.ResourceMemory: resource.MustParse("32Mi"),
					},
					Limits: corev1.ResourceList{
						corev1.ResourceMemory: resource.MustParse("128Mi"),
					},
				},
				TerminationMessagePath: corev1.TerminationMessagePathDefault,
			}},
		},
	}
	// No volumes (issue 17): a pod with any volume waits for kubelet's volume manager,
	// which looks every 300 ms, before kubelet even asks for its sandbox. The agent
	// bind-mounts the same node paths itself from the node's root (hostPID: the
	// runtime shim's /proc/PID/root), in its own mount namespace, before anything
	// else (internal/hostmount, docs/agent.md "The helper has no volumes").
	c := &pod.Spec.Containers[0]
	c.Env = append(c.Env, corev1.EnvVar{Name: hostmount.EnvVar, Value: s.hostPaths()})
	if s.owner != "" {
		pod.Annotations[plan.AnnotationOwner] = s.owner
	}
	return pod
}

// HostPaths are the node paths a pod of ours mounts (what a dry-run and gc show).
func HostPaths(pod *corev1.Pod) []string {
	for _, c := range pod.Spec.Containers {
		for _, e := range c.Env {
			if e.Name == hostmount.EnvVar {
				if ms, err := hostmount.Decode(e.Value); err == nil {
					return hostmount.Paths(ms)
				}
			}
		}
	}
	return nil
}

// hostMounts are the node paths the agent mounts: the journal, the node's /proc
// (read-only, at HostProcPath), the runtime socket's directory, then the kinds' own.
func (s skeleton) hostMounts() []hostmount.Mount {
	ms := []hostmount.Mount{
		{Name: "journal", HostPath: s.journal, Path: s.journal, Type: hostmount.DirectoryOrCreate},
		{Name: "host-proc", HostPath: "/proc", Path: HostProcPath, Type: hostmount.Directory, ReadOnly: true},
		{Name: "runtime", HostPath: s.socketDir, Path: s.socketDir, Type: hostmount.DirectoryOrCreate},
	}
	for _, m := range s.mounts {
		ms = append(ms, hostmount.Mount{Name: m.Name, HostPath: m.Path, Path: m.Path, Type: hostmount.Type(m.Type), ReadOnly: m.ReadOnly, Recursive: m.Recursive})
	}
	return ms
}

// hostPaths is the value of the agent's hostmount.EnvVar. The paths were checked by
// place (absolute) and the kinds' are constants: an error here is a bug.
func (s skeleton) hostPaths() string {
	v, err := hostmount.Encode(s.hostMounts())
	if err != nil {
		panic("helper pod host paths: " + err.Error())
	}
	return v
}

func fieldEnv(name, path string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{
		FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: path},
	}}
}

// Namespace returns the helper namespace object, labelled for Pod Security "privileged".
func Namespace(name string) *corev1.Namespace {
	if name == "" {
		name = DefaultNamespace
	}
	labels := map[string]string{plan.LabelManagedBy: plan.ManagedByValue}
	for _, l := range podSecurityLabels {
		labels[l] = "privileged"
	}
	return &corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
	}
}
