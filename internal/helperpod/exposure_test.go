package helperpod

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// TestHelpersExposeNothing (issue 16): the fault helper and the sweep pod carry no
// service-account token, open no port (no containerPorts, no host ports, no probe), get
// no service environment, and carry the labels ls/gc select on and the owner and
// deadline gc and a reader need. They run in the node's network namespace (issue 17:
// hostNetwork skips the sandbox netns and the CNI add/del); that exposes nothing as long
// as the agent listens on nothing there, which TestAgentInSentinelNetns
// (internal/fault/sentinel) and the e2e TestHelperPodSecurity prove. Privileged, as
// before: hostNetwork asks Pod Security for nothing more than privileged already allows.
func TestHelpersExposeNothing(t *testing.T) {
	fault, err := Build(typicalOptions())
	if err != nil {
		t.Fatal(err)
	}
	sweep, err := BuildSweep(sweepOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, pod := range []*corev1.Pod{fault, sweep} {
		t.Run(pod.Name, func(t *testing.T) {
			s := pod.Spec
			if s.AutomountServiceAccountToken == nil || *s.AutomountServiceAccountToken {
				t.Error("the service-account token is mounted")
			}
			if s.ServiceAccountName != "" || s.DeprecatedServiceAccount != "" {
				t.Errorf("service account %q named", s.ServiceAccountName)
			}
			if !s.HostNetwork || s.HostIPC {
				t.Errorf("hostNetwork %v, hostIPC %v: want the node's network (issue 17), not its IPC", s.HostNetwork, s.HostIPC)
			}
			if s.DNSPolicy != corev1.DNSDefault {
				t.Errorf("dnsPolicy %q: want Default (the agent resolves no names, cluster DNS is not needed)", s.DNSPolicy)
			}
			if c := s.Containers[0].SecurityContext; c == nil || c.Privileged == nil || !*c.Privileged {
				t.Error("not privileged: the agent needs it, and it is the only Pod Security level asked")
			}
			if s.EnableServiceLinks == nil || *s.EnableServiceLinks {
				t.Error("service links enabled")
			}
			for _, c := range append(append([]corev1.Container(nil), s.InitContainers...), s.Containers...) {
				if len(c.Ports) > 0 {
					t.Errorf("container %s declares ports %v", c.Name, c.Ports)
				}
				if c.ReadinessProbe != nil || c.LivenessProbe != nil || c.StartupProbe != nil {
					t.Errorf("container %s has a probe (something would listen)", c.Name)
				}
				for _, e := range c.EnvFrom {
					t.Errorf("container %s takes env from %+v", c.Name, e)
				}
				for _, e := range c.Env {
					if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
						t.Errorf("container %s reads secret %s", c.Name, e.ValueFrom.SecretKeyRef.Name)
					}
				}
			}
			for _, v := range s.Volumes {
				t.Errorf("volume %s: a helper has no volumes (kubelet would wait for them; the agent mounts its host paths)", v.Name)
			}
			if s.ActiveDeadlineSeconds == nil || *s.ActiveDeadlineSeconds <= 0 {
				t.Error("no activeDeadlineSeconds: nothing in the cluster bounds the helper")
			}
			if pod.Labels[plan.LabelManagedBy] != plan.ManagedByValue || pod.Labels[plan.LabelExperiment] == "" || pod.Labels[plan.LabelNode] == "" {
				t.Errorf("labels %v: want managed-by, experiment and node", pod.Labels)
			}
			if pod.Annotations[plan.AnnotationDeadline] == "" {
				t.Errorf("annotations %v: no deadline", pod.Annotations)
			}
		})
	}
	if fault.Annotations[plan.AnnotationOwner] != typicalPlan().Owner {
		t.Errorf("owner annotation %q, want %q", fault.Annotations[plan.AnnotationOwner], typicalPlan().Owner)
	}
}
