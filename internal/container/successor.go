package container

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Following a restart between the plan and the injection (issue 16, docs/agent.md "A
// restart between the plan and the injection"): the plan names the container by the ID
// the CLI read from the pod status; when the kubelet has replaced that container since,
// the agent injects into the one that replaced it, found by the labels containerd's CRI
// plugin puts on every Kubernetes container.
const (
	LabelPodUID        = "io.kubernetes.pod.uid"
	LabelPodNamespace  = "io.kubernetes.pod.namespace"
	LabelPodName       = "io.kubernetes.pod.name"
	LabelContainerName = "io.kubernetes.container.name"
	// LabelKind is "container" on an application container, "sandbox" on a pod's pause.
	LabelKind = "io.cri-containerd.kind"
)

// DefaultSuccessorWait bounds how long the agent waits for a running successor. A
// container in CrashLoopBackOff runs again after 10 s, 20 s, … of back-off, but the
// kubelet restarts it at its next sync of the pod after that: the kill matrix's two-crash
// loop runs again ≈20 s after its trigger (19-23 s at load 35; a 15 s wait missed it),
// so 30 s covers the first back-off.
const DefaultSuccessorWait = 30 * time.Second

// DefaultSuccessorSettle is how long a successor must have run before the agent injects
// into it. In a crash loop the kubelet restarts a container that may exit again within
// its first second (the kill matrix's crash-loop workload exits 0.2 s after its start);
// injecting into it would end a stress, IO or time fault with it at once. A successor
// that exits within this time is passed over and the wait goes on for the next one.
const DefaultSuccessorSettle = time.Second

// candidate is one container containerd lists for the target's pod and name.
type candidate struct {
	ID      string
	Labels  map[string]string
	Created time.Time
	// PID of its task, 0 when it has no running task.
	PID int
}

// planned is what containerd still knows of the plan's container (the kubelet keeps the
// last exited container of each name until its garbage collection).
type planned struct {
	known   bool
	labels  map[string]string
	created time.Time
}

// errNoSuccessor: nothing to inject into yet (no other container of the pod's name, or
// none running); the caller may wait for one. Other errors are refusals.
type errNoSuccessor struct{ why string }

func (e errNoSuccessor) Error() string { return e.why }

// sameContainer says why labels do not name the target's pod and container ("" when they do).
func sameContainer(t plan.Target, labels map[string]string) string {
	for _, l := range [...]struct{ key, want string }{
		{LabelPodUID, t.PodUID}, {LabelPodNamespace, t.Namespace}, {LabelPodName, t.Pod}, {LabelContainerName, t.Container},
	} {
		if got := labels[l.key]; got != l.want {
			return fmt.Sprintf("label %s is %q, the plan's %q", l.key, got, l.want)
		}
	}
	if k, ok := labels[LabelKind]; ok && k != "container" {
		return fmt.Sprintf("label %s is %q", LabelKind, k)
	}
	return ""
}

// pickSuccessor chooses the container to inject into instead of the plan's one (id),
// among the containers containerd lists: one of the same pod (UID, namespace, name) and
// container name, created after the planned one, with a running task; the newest when
// there are several. The planned container, when containerd still knows it, must carry
// the same labels (a plan whose container ID belongs to another pod is refused: the
// successor path must not lead from one pod to another); when it is gone, notBefore
// (the plan's creation) bounds the successor's creation instead.
func pickSuccessor(t plan.Target, id string, p planned, notBefore time.Time, cands []candidate) (candidate, error) {
	if t.PodUID == "" || t.Container == "" {
		return candidate{}, fmt.Errorf("the plan names no pod UID or container name for %s, so a restarted container cannot be followed", t)
	}
	after := notBefore
	if p.known {
		if why := sameContainer(t, p.labels); why != "" {
			return candidate{}, fmt.Errorf("refusing to follow container %s: it is not %s's (%s)", short(id), t, why)
		}
		after = p.created
	}
	if after.IsZero() {
		return candidate{}, fmt.Errorf("container %s is gone and the plan has no creation time: cannot tell its successor from older containers", short(id))
	}
	var best candidate
	var stopped, older []string
	for _, c := range cands {
		switch {
		case c.ID == id || sameContainer(t, c.Labels) != "" || !hexID(c.ID):
			continue
		case !c.Created.After(after):
			older = append(older, short(c.ID))
		case c.PID <= 0:
			stopped = append(stopped, short(c.ID))
		case best.ID == "" || c.Created.After(best.Created):
			best = c
		}
	}
	if best.ID != "" {
		return best, nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "no running container of %s created after %s", t, after.UTC().Format(time.RFC3339Nano))
	if len(stopped) > 0 {
		fmt.Fprintf(&b, " (%s not running: crash-loop back-off?)", strings.Join(stopped, ", "))
	}
	if len(older) > 0 {
		fmt.Fprintf(&b, " (older: %s)", strings.Join(older, ", "))
	}
	return candidate{}, errNoSuccessor{b.String()}
}

// successorFilter selects the containers of t's pod and container name (containerd's
// filter syntax: quoted label keys and values, "," = and).
func successorFilter(t plan.Target) string {
	return `labels."` + LabelPodUID + `"==` + strconv.Quote(t.PodUID) +
		`,labels."` + LabelContainerName + `"==` + strconv.Quote(t.Container)
}
