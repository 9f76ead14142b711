// Package version holds the build's version, set with -ldflags -X by the Makefile and
// goreleaser, and the agent image the CLI uses by default.
package version

var (
	// Version of this build, e.g. v0.1.0; "dev" for a plain go build.
	Version = "dev"
	// Commit is the git commit of this build.
	Commit = "none"
	// ImageRepository is where the agent image lives; the tag is Version.
	ImageRepository = "ghcr.io/kubectl-chaos/kubectl-chaos"
)

// DefaultImage is the agent image that matches this CLI: the same binary, tagged with
// the CLI's own version.
func DefaultImage() string { return ImageRepository + ":" + Version }
