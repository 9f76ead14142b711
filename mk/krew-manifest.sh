#!/usr/bin/env bash
# Writes the krew manifest of the release in DIST (what `make release-snapshot` or a
# release built) to DIST/krew/chaos.yaml: krew/chaos.yaml with VERSION set to the
# release's version (dist/metadata.json) and each SHA256_<os>_<arch> to that platform
# archive's line in DIST/checksums.txt. That file is what goes to the project's krew
# index; mk/release-verify.sh then has internal/release's test check it against the
# archives themselves (their sha256, the bin inside them).
set -euo pipefail
dist=${1:-dist}
fail() { echo "krew-manifest: $*" >&2; exit 1; }

version=$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$dist/metadata.json" | head -n1)
[ -n "$version" ] || fail "no version in $dist/metadata.json"
args=(-e '/^#/d' -e "s/VERSION/$version/g")
for p in linux_amd64 linux_arm64 darwin_amd64 darwin_arm64 windows_amd64 windows_arm64; do
  ext=tar.gz
  [ "${p%%_*}" = windows ] && ext=zip
  sum=$(awk -v f="kubectl-chaos_${version}_$p.$ext" '$2 == f { print $1 }' "$dist/checksums.txt")
  [[ $sum =~ ^[0-9a-f]{64}$ ]] || fail "no sha256 of kubectl-chaos_${version}_$p.$ext in $dist/checksums.txt"
  args+=(-e "s/SHA256_$p\$/$sum/")
done
mkdir -p "$dist/krew"
{
  echo "# krew manifest of kubectl-chaos $version, written by mk/krew-manifest.sh from"
  echo "# krew/chaos.yaml and this release's checksums.txt"
  sed "${args[@]}" krew/chaos.yaml
} >"$dist/krew/chaos.yaml"
! grep -nE 'VERSION|SHA256_' "$dist/krew/chaos.yaml" || fail "placeholders left in $dist/krew/chaos.yaml"
echo "krew-manifest: $dist/krew/chaos.yaml ($version)"
