#!/usr/bin/env bash
# make fuzz: each fuzz target of the repo in turn for FUZZTIME (nice'd, so the machine's
# other work goes first), then a table per target: wall seconds (instrumented build +
# fuzzing), fuzzing seconds, execs, execs/s and the result. A crasher stays in
# <pkg>/testdata/fuzz/<Target>/ (go test writes it there): fix the code and commit it as
# a seed. FUZZ_RUN (a regexp) picks targets. Not part of make test, which runs the seeds.
set -uo pipefail
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-60s}
FUZZ_RUN=${FUZZ_RUN:-.}
out=${FUZZ_OUT:-_out/fuzz}
mkdir -p "$out"
# "pkg Target" lines; the packages without a Kubernetes client first (units, plan:
# instrumented in seconds), the others share one long instrumented build of client-go.
mapfile -t targets < <(
	git grep --untracked -l '^func Fuzz' -- '*_test.go' | while read -r f; do
		for fn in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | cut -d' ' -f2); do
			echo "./$(dirname "$f") $fn"
		done
	done | sort -u | awk '{print (($1 ~ /internal\/(units|plan)$/) ? 0 : 1), $0}' | sort -k1,1n -k2 | cut -d' ' -f2-)
rows=() fail=0
for t in "${targets[@]}"; do
	read -r pkg fn <<<"$t"
	[[ $fn =~ $FUZZ_RUN ]] || continue
	log="$out/$fn.log"
	echo "== $fn ($pkg), $FUZZTIME" >&2
	start=$(date +%s)
	nice -n 10 "$GO" test -count=1 -run '^$' -fuzz "^$fn\$" -fuzztime "$FUZZTIME" "$pkg" >"$log" 2>&1
	rc=$?
	wall=$(($(date +%s) - start))
	# The last progress line ("fuzz: elapsed: 1m2s, execs: 36050 (…)") is the total.
	last=$(grep -E '^fuzz: elapsed: ([0-9]+m)?[0-9]+s, execs: [0-9]+' "$log" | tail -1)
	secs=$(sed -E 's/^fuzz: elapsed: (([0-9]+)m)?([0-9]+)s.*/\2 \3/' <<<"$last" | awk 'NF {print ($2 == "" ? $1 : $1 * 60 + $2)}')
	execs=$(sed -E 's/.*execs: ([0-9]+).*/\1/' <<<"$last")
	rate=0
	[[ -n $secs && $secs -gt 0 ]] && rate=$((execs / secs))
	result=ok
	if ((rc != 0)); then
		fail=1
		result="FAIL: $(grep -m1 -E 'Failing input written to|panic:|--- FAIL' "$log" | head -c 160)"
	fi
	rows+=("$(printf '%-24s %-32s %6s %7s %11s %9s  %s' "$fn" "$pkg" "$wall" "${secs:-0}" "${execs:-0}" "$rate" "$result")")
	tail -3 "$log" >&2
done
echo >&2
printf '%-24s %-32s %6s %7s %11s %9s  %s\n' target package wall_s fuzz_s execs execs/s result
printf '%s\n' "${rows[@]}"
exit $fail
