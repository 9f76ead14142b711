// Package version is `kubectl chaos version`.
package version

import (
	"fmt"
	"runtime"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
	buildinfo "github.com/kubectl-chaos/kubectl-chaos/internal/version"
	"github.com/spf13/cobra"
)

// Options of version.
type Options struct {
	IO     *ui.IOStreams
	Output string
}

// Info is what version prints.
type Info struct {
	Version      string `json:"version"`
	Commit       string `json:"commit"`
	DefaultImage string `json:"defaultImage"`
	GoVersion    string `json:"goVersion"`
	Platform     string `json:"platform"`
}

// Current is this build's Info.
func Current() Info {
	return Info{
		Version:      buildinfo.Version,
		Commit:       buildinfo.Commit,
		DefaultImage: buildinfo.DefaultImage(),
		GoVersion:    runtime.Version(),
		Platform:     runtime.GOOS + "/" + runtime.GOARCH,
	}
}

// NewCmdVersion returns the command; runF replaces the run (tests).
func NewCmdVersion(f *factory.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and default agent image",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := ui.ValidateFormat(opts.Output); err != nil {
				return exit.UsageError(err)
			}
			if runF != nil {
				return runF(opts)
			}
			return versionRun(opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "", "Output format: json or yaml (default human)")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func versionRun(o *Options) error {
	info := Current()
	if o.Output != ui.FormatHuman {
		return ui.Print(o.IO.Out, o.Output, info)
	}
	_, err := fmt.Fprintf(o.IO.Out, "kubectl-chaos %s\ncommit:       %s\nagent image:  %s\ngo:           %s %s\n",
		info.Version, info.Commit, info.DefaultImage, info.GoVersion, info.Platform)
	return err
}
