// Package rbac is `kubectl chaos rbac`: the ClusterRole a user needs, printed from the
// one list of calls the tool makes (internal/rbac).
package rbac

import (
	"fmt"
	"strings"

	"github.com/MakeNowJust/heredoc"
	"github.com/spf13/cobra"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/cmdutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/rbac"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
)

// Options of rbac.
type Options struct {
	IO   *ui.IOStreams
	Name string
	Bind []string

	subjects []rbacv1.Subject
}

// NewCmdRBAC returns the command; runF replaces the run (tests).
func NewCmdRBAC(f *factory.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "rbac",
		Short: "Print the ClusterRole a user of kubectl chaos needs",
		Long: heredoc.Doc(`
			Print, as YAML for kubectl apply, the smallest ClusterRole that lets a user run
			every kubectl chaos command: each resource and verb the tool calls, from the one
			list the tests check the tool's API calls against. With --bind, a
			ClusterRoleBinding of it to users, groups or service accounts follows.

			It is a ClusterRole because the tool reads nodes and namespaces (cluster-scoped)
			and lists helper pods in every namespace (ls, gc). The helper pods themselves are
			privileged: whoever may create pods in the helper namespace can run privileged
			pods there, so grant it to the people who run game days.
			"kubectl chaos doctor" checks which of these rules you have.
		`),
		Example: cmdutil.Examples(`
			kubectl chaos rbac | kubectl apply -f -
			kubectl chaos rbac --bind user:alice --bind group:sre | kubectl apply -f -
			kubectl chaos rbac --name chaos-ci --bind serviceaccount:ci:runner
		`),
		Args:    cobra.NoArgs,
		GroupID: cmdutil.GroupExperiments,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.Validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return run(opts)
		},
	}
	cmd.Flags().StringVar(&opts.Name, "name", rbac.Name, "Name of the ClusterRole (and of its binding)")
	cmd.Flags().StringArrayVar(&opts.Bind, "bind", nil, "Also bind it to user:NAME, group:NAME or serviceaccount:NAMESPACE:NAME (repeatable)")
	return cmd
}

// Validate checks the name and parses the subjects.
func (o *Options) Validate() error {
	if errs := validation.IsDNS1123Subdomain(o.Name); len(errs) > 0 {
		return exit.Usagef("--name %q: %s", o.Name, strings.Join(errs, "; "))
	}
	o.subjects = nil
	for _, b := range o.Bind {
		s, err := rbac.Subject(b)
		if err != nil {
			return exit.UsageError(err)
		}
		o.subjects = append(o.subjects, s)
	}
	return nil
}

func run(o *Options) error {
	var b strings.Builder
	b.WriteString("# The permissions kubectl chaos uses (kubectl chaos rbac):\n")
	for _, r := range rbac.Rules {
		res := r.Resource
		if r.Group != "" {
			res += "." + r.Group
		}
		fmt.Fprintf(&b, "#   %s [%s]: %s\n", res, strings.Join(r.Verbs, " "), r.Why)
	}
	y, err := yaml.Marshal(rbac.ClusterRole(o.Name))
	if err != nil {
		return err
	}
	b.Write(y)
	if len(o.subjects) > 0 {
		y, err := yaml.Marshal(rbac.Binding(o.Name, o.subjects))
		if err != nil {
			return err
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	_, err = fmt.Fprint(o.IO.Out, b.String())
	return err
}
