#!/usr/bin/env bash
# Checks what `make release-snapshot` built (docs/release.md), fails on the first
# difference: every file checksums.txt names is there with that sha256 (the agent image
# archive is linked into dist/ beside the archives); one archive and one SBOM per CLI
# platform; the linux/amd64 snapshot binary prints this version and the agent image
# tagged with it as its default; the image's binaries are the linux CLI binaries, byte
# for byte; the image archive passes mkimage -verify; the krew manifest filled in from
# this release (mk/krew-manifest.sh, written to $dist/krew/chaos.yaml) names each
# archive with its real sha256 and a bin inside it for that platform (internal/release).
set -euo pipefail
dist=${1:-dist}
out=${2:-_out/release}
fail() { echo "release-verify: $*" >&2; exit 1; }

version=$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$dist/metadata.json" | head -n1)
[ -n "$version" ] || fail "no version in $dist/metadata.json"
image=ghcr.io/kubectl-chaos/kubectl-chaos:$version
archive=kubectl-chaos-agent_$version.oci.tar

ln -f "$out/$archive" "$dist/$archive"
(cd "$dist" && sha256sum --strict --quiet -c checksums.txt) || fail "checksums.txt does not match $dist"
grep -q "  $archive\$" "$dist/checksums.txt" || fail "checksums.txt lacks $archive"
for p in linux_amd64 linux_arm64 darwin_amd64 darwin_arm64 windows_amd64 windows_arm64; do
  ext=tar.gz
  [ "${p%%_*}" = windows ] && ext=zip
  a=kubectl-chaos_${version}_$p.$ext
  [ -s "$dist/$a" ] || fail "no $a"
  grep -q "  $a\$" "$dist/checksums.txt" || fail "checksums.txt lacks $a"
  ls "$dist"/*"_${version}_$p"*.sbom.json >/dev/null 2>&1 || fail "no SBOM for $p"
done

bin=$(ls "$dist"/cli_linux_amd64*/kubectl-chaos)
v=$("$bin" version)
echo "$v"
grep -qx "kubectl-chaos $version" <<<"$v" || fail "$bin version does not print $version"
grep -qx "agent image:  $image" <<<"$v" || fail "$bin version does not print the default image $image"

for a in amd64 arm64; do
  cmp -s "$out/linux_$a/kubectl-chaos" "$(ls "$dist"/cli_linux_"$a"*/kubectl-chaos)" ||
    fail "the image's linux/$a binary differs from the released one"
done
go run ./internal/e2e/tools/mkimage -verify "$dist/$archive" -arch amd64,arm64 -tag "$image"
bash mk/krew-manifest.sh "$dist"
KC_RELEASE_DIST=$(realpath "$dist") go test -count=1 -run '^TestKrewManifestOfTheSnapshot$' ./internal/release ||
  fail "$dist/krew/chaos.yaml does not match the archives"
echo "release-verify: $dist ok ($version)"
