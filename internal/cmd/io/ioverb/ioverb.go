// Package ioverb is the shared shape of the io verbs (`latency`, `fault`, `mistake`,
// `attr`): the same target and scope flags (--path, --file-glob, --methods, --percent),
// differing in the words, the defaults and the fault each one sets.
package ioverb

import (
	"context"
	"strings"

	"github.com/MakeNowJust/heredoc"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/cmdutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/complete"
	"github.com/kubectl-chaos/kubectl-chaos/internal/experiment"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/iofault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Verb describes one io verb.
type Verb struct {
	Name    string // "latency"
	Use     string // flags shown after TARGET..., e.g. "--path DIR --delay D"
	Short   string
	Long    string // heredoc text
	Example string
	// MethodsHelp is the help of --methods; "" means the verb has no --methods.
	MethodsHelp string
	// PercentHelp is the help of --percent ("" = no --percent); PercentDefault its
	// default, and PercentRequired makes it mandatory.
	PercentHelp     string
	PercentDefault  float64
	PercentRequired bool
	// Flags adds the verb's own flags.
	Flags func(fl *pflag.FlagSet)
	// Set puts the verb's fault into the spec, parsing its flags' units (range checks
	// are the kind's Validate, run by the engine).
	Set func(cmd *cobra.Command, s *plan.IO) error
}

// Options of an io verb.
type Options struct {
	Experiment *experiment.Options
	Path       string
	FileGlob   string
	Methods    []string
	Percent    float64

	verb Verb
	cmd  *cobra.Command
}

// NewCmd returns the command for v; runF replaces the run (tests).
func NewCmd(f *factory.Factory, v Verb, runF func(*Options) error) *cobra.Command {
	opts := &Options{Experiment: experiment.NewOptions(f), verb: v}
	cmd := &cobra.Command{
		Use:               v.Name + " TARGET... " + v.Use,
		Short:             v.Short,
		Long:              heredoc.Doc(v.Long),
		Example:           cmdutil.Examples(v.Example),
		ValidArgsFunction: complete.TargetArgs(f),
	}
	opts.cmd = cmd
	cmd.RunE = cmdutil.FaultRunE(opts.Experiment, opts.build, func(ctx context.Context) error {
		if runF != nil {
			return runF(opts)
		}
		return experiment.Run(ctx, opts.Experiment)
	})
	experiment.AddFlags(cmd, opts.Experiment)
	fl := cmd.Flags()
	fl.StringVar(&opts.Path, "path", "", "Directory of the container to cover, absolute as the container sees it, e.g. /data (required)")
	fl.StringVar(&opts.FileGlob, "file-glob", "", "Only files whose name matches, e.g. '*.db' (a pattern with '/' matches the path under --path)")
	if v.MethodsHelp != "" {
		fl.StringSliceVar(&opts.Methods, "methods", nil, v.MethodsHelp)
	}
	if v.PercentHelp != "" {
		fl.Float64Var(&opts.Percent, "percent", v.PercentDefault, v.PercentHelp)
		if v.PercentRequired {
			_ = cmd.MarkFlagRequired("percent")
		}
	}
	v.Flags(fl)
	_ = cmd.MarkFlagRequired("path")
	return cmd
}

func (o *Options) build() error {
	s := &plan.IO{Path: o.Path, FileGlob: o.FileGlob, Methods: o.Methods, Percent: o.Percent}
	if err := o.verb.Set(o.cmd, s); err != nil {
		return err
	}
	o.Experiment.Fault = plan.Fault{Kind: plan.KindIO, Action: o.verb.Name, IO: s}
	return nil
}

// MethodList is the --methods values, for the help texts.
var MethodList = strings.Join(iofault.MethodNames[:], ", ")
