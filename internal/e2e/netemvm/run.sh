#!/usr/bin/env bash
# make test-netem: run the netem integration tests (and the native nft `queue` path of the
# userspace delay) inside a qemu VM booted with Debian's stock kernel, which has
# sch_netem and nft_queue as modules (this host's kernel has neither).
#
#  1. qemu-system-x86, kmod (depmod) and busybox-static: the project's install step
#     (mk/deps.sh, quiet when they are there)
#  2. linux-image-<version>-amd64: apt-get download, dpkg-deb -x into a cache dir (the
#     host's /boot is left alone), depmod -b
#  3. static test binaries: go test -c of the packages below
#  4. initramfs: busybox, the modules in dependency order, the tests, ./init
#  5. qemu -accel tcg (KVM hangs on this host), serial console on stdout; the result is
#     the marker line "NETEMVM-RESULT rc=N" printed by init. No marker = failure.
#
# Environment: NETEMVM_CACHE (default ~/.cache/kubectl-chaos/netemvm), NETEMVM_TIMEOUT
# (seconds for the VM, default 300), NETEMVM_KEEP=1 keeps the work dir.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
HERE=$ROOT/internal/e2e/netemvm
CACHE=${NETEMVM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-chaos/netemvm}
TIMEOUT=${NETEMVM_TIMEOUT:-300}
GO=${GO:-go}
t0=$(date +%s.%N)
log() { echo "netemvm: $*" >&2; }
die() { echo "netemvm: FAIL: $*" >&2; exit 1; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }

# package | binary | -test.run pattern (the netem tests of the network injector; the
# netem smoke test and the native-queue path of nfqdelay)
TESTS=(
  "./internal/fault/network|network|${NETEMVM_RUN_NETWORK:-^Test(Netem|DuplicateNFT|CorruptNFQueue|ReorderNFQueue)}"
  "./internal/fault/network/nfqdelay|nfqdelay|${NETEMVM_RUN_NFQDELAY:-^Test(NetemSmoke|NativeQueuePath|TCPVersusNetem|DelayUDPRoundTrip|Kill9LeavesNothing)$}"
  "./internal/fault/container|container|${NETEMVM_RUN_CONTAINER:-^Test(Pause|PauseRecoveredFromJournal|PauseRefusesFrozenCgroup|FindFreezerPrivateCgroupNamespace|AgentPause)$}"
  "./internal/fault/stress|stress|${NETEMVM_RUN_STRESS:-^Test(CPUStressMeasured|MemoryStressMeasured|MemoryAboveLimitOOM|PercentWithoutLimitRefused|JournalRecoverKillsStressor|RecoverSparesReusedPID)$}"
  "./internal/doctor|doctor|${NETEMVM_RUN_DOCTOR:-^TestProbeHere$}"
)
# Modules to load (with their dependencies); missing ones are reported, built-in skipped.
MODULES=(crc32c_generic libcrc32c veth sch_netem sch_tbf sch_htb sch_prio sch_ingress
  cls_u32 cls_basic cls_matchall act_gact nfnetlink nf_tables nfnetlink_queue nft_queue
  nft_numgen nft_limit nft_reject nft_reject_inet x_tables nft_compat xt_NFQUEUE
  nf_dup_netdev nft_dup_netdev)

[ "$(id -u)" = 0 ] || { log "SKIP: needs root (apt-get, and the tests create namespaces)"; exit 0; }

# 1. tools: qemu-system-x86_64, depmod, and the busybox the VM runs (/bin/busybox of
# busybox-static, the interpreter init names)
bash "$ROOT/mk/deps.sh" || die "installing the packages the VM needs (mk/deps.sh)"
PATH=$PATH:/usr/sbin:/sbin
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || die "$BUSYBOX missing (package busybox-static, mk/packages)"
apt_updated=
apt_update() { [ -n "$apt_updated" ] || { log "apt-get update"; apt-get update -qq >&2; apt_updated=1; }; }
t_tools=$(elapsed "$t0")

# 2. kernel, cached (under a lock: concurrent runs share the cache)
mkdir -p "$CACHE/debs"
exec 9>"$CACHE/.lock"
flock 9
kdeb=$(ls "$CACHE"/debs/linux-image-[0-9]*-amd64_*.deb 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$kdeb" ]; then
  kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}' || true)
  if [ -z "$kpkg" ]; then
    apt_update
    kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  fi
  [ -n "$kpkg" ] || die "cannot find the versioned package behind linux-image-amd64"
  log "downloading $kpkg"
  (cd "$CACHE/debs" && apt-get download "$kpkg" >&2 2>/dev/null) \
    || { apt_update; (cd "$CACHE/debs" && apt-get download "$kpkg" >&2); } \
    || die "apt-get download $kpkg"
  kdeb=$(ls "$CACHE"/debs/linux-image-[0-9]*-amd64_*.deb | sort -V | tail -1)
fi
kname=$(basename "$kdeb" .deb)
KROOT=$CACHE/kroot/$kname
if [ ! -e "$KROOT/.done" ]; then
  log "unpacking $(basename "$kdeb")"
  rm -rf "$KROOT" && mkdir -p "$KROOT"
  dpkg-deb -x "$kdeb" "$KROOT"
  kver=$(ls "$KROOT/lib/modules" | head -1)
  depmod -b "$KROOT" "$kver" || die "depmod -b $KROOT $kver"
  touch "$KROOT/.done"
fi
kver=$(ls "$KROOT/lib/modules" | head -1)
VMLINUZ=$KROOT/boot/vmlinuz-$kver
[ -f "$VMLINUZ" ] || die "no kernel image in $kdeb"
exec 9>&-
t_kernel=$(elapsed "$t0")

# 3. test binaries
WORK=$(mktemp -d "${TMPDIR:-/tmp}/netemvm.XXXXXX")
[ -n "${NETEMVM_KEEP:-}" ] || trap 'rm -rf "$WORK"' EXIT
IRD=$WORK/initramfs
mkdir -p "$IRD/bin" "$IRD/modules" "$IRD/tests"
ntests=0
for spec in "${TESTS[@]}"; do
  IFS='|' read -r pkg bin run <<<"$spec"
  listed=$(cd "$ROOT" && $GO test -list "$run" "$pkg" 2>/dev/null | grep -cE '^(Test|Example)' || true)
  if [ "$listed" = 0 ]; then
    log "no tests matching '$run' in $pkg yet: not run in the VM"
    continue
  fi
  log "go test -c $pkg ($listed tests match '$run')"
  (cd "$ROOT" && CGO_ENABLED=0 $GO test -c -trimpath -o "$IRD/tests/$bin.test" "$pkg") || die "go test -c $pkg"
  printf '%s\n' "$run" >"$IRD/tests/$bin.run"
  ntests=$((ntests + 1))
done
[ "$ntests" -gt 0 ] || die "no test binary to run"
t_build=$(elapsed "$t0")

# 4. initramfs: modules in dependency order (modules.dep lists deps to load last-first)
MODDIR=$KROOT/lib/modules/$kver
declare -A seen=()
order=()
load() {
  local name=$1 line path deps d i
  [ -z "${seen[$name]:-}" ] || return 0
  seen[$name]=1
  line=$(grep -E "(^|/)${name}\.ko(\.xz|\.zst)?:" "$MODDIR/modules.dep" | head -1 || true)
  if [ -z "$line" ]; then
    if grep -qE "/${name}\.ko" "$MODDIR/modules.builtin" 2>/dev/null; then return 0; fi
    log "module $name not in $kver (skipped)"
    return 0
  fi
  path=${line%%:*}
  read -r -a deps <<<"${line#*:}"
  for ((i = ${#deps[@]} - 1; i >= 0; i--)); do
    d=$(basename "${deps[$i]}"); d=${d%%.ko*}
    load "$d"
  done
  local f=$IRD/modules/$(basename "$path")
  case $path in
    *.xz) xz -dc "$MODDIR/$path" >"${f%.xz}"; f=${f%.xz} ;;
    *.ko) cp "$MODDIR/$path" "$f" ;;
    *) die "module $path: compressed in a way this script does not unpack (add it, and its tool to mk/packages)" ;;
  esac
  order+=("$(basename "$f")")
}
for m in "${MODULES[@]}"; do load "$m"; done
printf '%s\n' "${order[@]}" >"$IRD/modules/order"
cp "$BUSYBOX" "$IRD/bin/busybox"
cp "$HERE/init" "$IRD/init"
chmod +x "$IRD/init"
(cd "$IRD" && find . | "$BUSYBOX" cpio -o -H newc 2>/dev/null | gzip -1 >"$WORK/initramfs.gz") || die "building the initramfs"
log "initramfs $(du -h "$WORK/initramfs.gz" | cut -f1): ${#order[@]} modules, $ntests test binaries, kernel $kver"
t_initrd=$(elapsed "$t0")

# 5. boot. The console log is per run (concurrent runs share the cache) and copied to
# $CACHE/last-run.log; kernel and log live in the work dir so no process line names the
# tool (the residue checker lists processes that mention kubectl-chaos).
cp "$VMLINUZ" "$WORK/vmlinuz"
LOG=$WORK/console.log
log "booting qemu (tcg), console log copied to $CACHE/last-run.log"
tb=$(date +%s.%N)
set +e
(cd "$WORK" && timeout "$TIMEOUT" qemu-system-x86_64 -accel tcg -nodefaults -display none -serial stdio \
  -no-reboot -m 1G -smp 1 -kernel vmlinuz -initrd initramfs.gz \
  -append "console=ttyS0 panic=-1 quiet loglevel=3 random.trust_cpu=on" </dev/null 2>&1) \
  | tr -d '\r' | tee "$LOG"
qrc=${PIPESTATUS[0]}
set -e
cp "$LOG" "$CACHE/last-run.log.$$" && mv -f "$CACHE/last-run.log.$$" "$CACHE/last-run.log"
t_vm=$(elapsed "$tb")

echo
echo "== netem VM results (kernel $kver) =="
grep -E -- '^--- (PASS|FAIL|SKIP)|^    --- (PASS|FAIL|SKIP)' "$LOG" || true
if grep -qE 'TABLE\||asked (≤ )?[0-9.]+, measured' "$LOG"; then
  echo
  echo "== measured in the VM (asked vs seen) =="
  { grep -o 'TABLE|.*' "$LOG" || true; } | awk -F'|' '{printf "  %-44s %-16s %s\n", $2, $3, $4}'
  { grep -E 'asked (≤ )?[0-9.]+, measured' "$LOG" || true; } | sed -E 's/^ *[a-z_]+\.go:[0-9]+: /  /'
fi
echo
printf 'netemvm: time: tools %ss, kernel %ss, test build %ss, initramfs %ss, VM boot+tests %ss, total %ss\n' \
  "$t_tools" "$t_kernel" "$t_build" "$t_initrd" "$t_vm" "$(elapsed "$t0")"
marker=$(grep -o 'NETEMVM-RESULT rc=[0-9]*' "$LOG" | tail -1 || true)
[ -n "$marker" ] || die "the VM never reported a result (qemu exit $qrc; timeout ${TIMEOUT}s?)"
rc=${marker##*=}
[ "$rc" = 0 ] || die "tests in the VM failed (rc=$rc), see $CACHE/last-run.log"
if grep -E '^(    )?--- SKIP: TestNetem' "$LOG"; then
  die "netem tests skipped inside the VM, where sch_netem must exist"
fi
echo "netemvm: PASS"
