// Package complete is shell completion for the commands: TARGET (resource kinds and
// names), namespaces, kubeconfig contexts and experiment IDs. Every lookup is bounded
// by a short timeout and fails quietly, so <TAB> never hangs or prints errors.
package complete

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
	"github.com/kubectl-chaos/kubectl-chaos/internal/target"
)

// completionTimeout keeps <TAB> snappy when the cluster is slow or gone.
const completionTimeout = 3 * time.Second

// kinds offered when completing TARGET.
var kinds = []string{"pod/", "deploy/", "sts/", "ds/", "rs/", "job/", "svc/"}

// TargetArgs completes TARGET: resource kinds, NAMEs after KIND/, and bare pod names.
// Errors give an empty list quietly.
func TargetArgs(f *factory.Factory) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		kind, prefix, hasKind := strings.Cut(toComplete, "/")
		if !hasKind {
			var out []string
			for _, k := range kinds {
				if strings.HasPrefix(k, toComplete) {
					out = append(out, k)
				}
			}
			out = append(out, names(cmd, f, "pod", toComplete)...)
			return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
		}
		var out []string
		for _, n := range names(cmd, f, kind, prefix) {
			out = append(out, kind+"/"+n)
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

func namespaceOf(cmd *cobra.Command, f *factory.Factory) string {
	if fl := cmd.Flags().Lookup("namespace"); fl != nil && fl.Value.String() != "" {
		return fl.Value.String()
	}
	if f.Namespace != nil {
		if ns, err := f.Namespace(); err == nil {
			return ns
		}
	}
	return "default"
}

func client(f *factory.Factory) kubernetes.Interface {
	if f.KubeClient == nil {
		return nil
	}
	c, err := f.KubeClient()
	if err != nil {
		return nil
	}
	return c
}

// names lists the names of kind in the command's namespace that start with prefix.
func names(cmd *cobra.Command, f *factory.Factory, kind, prefix string) []string {
	c := client(f)
	if c == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), completionTimeout)
	defer cancel()
	ns := namespaceOf(cmd, f)
	ref, err := target.ParseRef(kind + "/x")
	if err != nil {
		return nil
	}
	lo := metav1.ListOptions{}
	var list runtime.Object
	switch ref.Kind {
	case target.KindPod:
		list, err = c.CoreV1().Pods(ns).List(ctx, lo)
	case target.KindDeployment:
		list, err = c.AppsV1().Deployments(ns).List(ctx, lo)
	case target.KindStatefulSet:
		list, err = c.AppsV1().StatefulSets(ns).List(ctx, lo)
	case target.KindDaemonSet:
		list, err = c.AppsV1().DaemonSets(ns).List(ctx, lo)
	case target.KindReplicaSet:
		list, err = c.AppsV1().ReplicaSets(ns).List(ctx, lo)
	case target.KindJob:
		list, err = c.BatchV1().Jobs(ns).List(ctx, lo)
	case target.KindService:
		list, err = c.CoreV1().Services(ns).List(ctx, lo)
	}
	if err != nil || list == nil {
		return nil
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil
	}
	var all []string
	for _, it := range items {
		if a, err := meta.Accessor(it); err == nil {
			all = append(all, a.GetName())
		}
	}
	var out []string
	for _, n := range all {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Namespaces completes -n.
func Namespaces(f *factory.Factory) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		c := client(f)
		if c == nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx, cancel := context.WithTimeout(context.Background(), completionTimeout)
		defer cancel()
		l, err := c.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for _, n := range l.Items {
			if strings.HasPrefix(n.Name, toComplete) {
				out = append(out, n.Name)
			}
		}
		sort.Strings(out)
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// Contexts completes --context from the kubeconfig.
func Contexts(f *factory.Factory) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if f.ConfigFlags == nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		raw, err := f.ConfigFlags.ToRawKubeConfigLoader().RawConfig()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for name := range raw.Contexts {
			if strings.HasPrefix(name, toComplete) {
				out = append(out, name)
			}
		}
		sort.Strings(out)
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// ExperimentIDs completes experiment IDs found in the cluster.
func ExperimentIDs(f *factory.Factory) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		c := client(f)
		if c == nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx, cancel := context.WithTimeout(context.Background(), completionTimeout)
		defer cancel()
		exps, err := session.List(ctx, c)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for _, e := range exps {
			if strings.HasPrefix(e.ID, toComplete) {
				out = append(out, e.ID+"\t"+e.Fault)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
