// Package release holds the tests of the release files: .goreleaser.yaml and the krew
// plugin manifest (krew/chaos.yaml) must agree on platforms and archive names, and
// goreleaser must build the CLI with the Makefile's flags, as `make release-image` builds
// the agent image's binaries (the same bytes in the image and the linux archives).
package release
