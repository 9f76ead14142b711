package app

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
)

// pflag words a value it cannot parse as `invalid argument "X" for "-l, --name" flag: …`,
// and cobra a missing required flag as `required flag(s) "a", "b" not set`: neither says
// what the flag accepts. These add the flag's help line, which states its range.
var (
	invalidFlagRE  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`for "(?:-[^,]+, )?--([^"]+)" flag`) })
	requiredFlagRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^required flag\(s\) (.*) not set$`) })
	quotedRE       = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`"([^"]+)"`) })
)

// explainFlagError returns err with the help line of the flag it names; err is returned
// as it is when it names no flag of c.
func explainFlagError(c *cobra.Command, err error) error {
	m := invalidFlagRE().FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	if fl := c.Flags().Lookup(m[1]); fl != nil {
		return fmt.Errorf("%w (--%s: %s)", err, fl.Name, fl.Usage)
	}
	return err
}

// explainCommandError adds to cobra's own errors (missing required flags, a wrong
// number of arguments) what the command accepts, and marks them usage errors.
func explainCommandError(c *cobra.Command, err error) error {
	if err == nil || c == nil {
		return err
	}
	var coded *exit.Error
	if errors.As(err, &coded) {
		return err
	}
	msg := err.Error()
	if m := requiredFlagRE().FindStringSubmatch(msg); m != nil {
		var parts []string
		for _, q := range quotedRE().FindAllStringSubmatch(m[1], -1) {
			if fl := c.Flags().Lookup(q[1]); fl != nil {
				parts = append(parts, fmt.Sprintf("--%s: %s", fl.Name, fl.Usage))
			}
		}
		if len(parts) > 0 {
			return exit.UsageError(fmt.Errorf("%w (%s)", err, strings.Join(parts, "; ")))
		}
		return exit.UsageError(err)
	}
	if strings.HasPrefix(msg, "accepts ") || strings.HasPrefix(msg, "requires at least") || strings.HasPrefix(msg, "requires at most") {
		return exit.UsageError(fmt.Errorf("%s %s (usage: %s)", c.CommandPath(), msg, c.UseLine()))
	}
	return err
}

// executeRoot runs root under ctx and explains cobra's own errors.
func executeRoot(ctx context.Context, root *cobra.Command) error {
	c, err := root.ExecuteContextC(ctx)
	return explainCommandError(c, err)
}
