// Package release holds the tests of the release files: .goreleaser.yaml and the krew
// plugin manifest (krew/chaos.yaml) must agree on platforms and archive names, and
// goreleaser must build the CLI with the Makefile's flags, as `make release-image` builds
// the agent image's binaries (the same bytes in the image and the linux archives). After
// a snapshot (mk/release-verify.sh), the manifest mk/krew-manifest.sh wrote must name
// the archives in dist/ with their sha256 and a bin for their platform.
package release
