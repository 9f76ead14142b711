// Package release holds the tests of the release files: .goreleaser.yaml and the krew
// plugin manifest (krew/chaos.yaml) must agree on platforms and archive names.
package release
