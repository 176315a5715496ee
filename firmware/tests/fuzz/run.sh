#!/bin/sh
# Run each libFuzzer target for SECONDS, one after another (one process each: the machine's
# other core stays free), and print per target: executions, exec/s, coverage (libFuzzer's
# cov: edges and ft: features), corpus size, crashes and seconds.
#
# Usage: run.sh BUILD SECONDS long|smoke [TARGET...]
#   BUILD    the fuzz build folder (fuzz_<target> binaries, seeds/<target>/)
#   long     grow the corpus kept in BUILD/corpus/<target> (new inputs are added there)
#   smoke    start from the seeds only, in a fresh BUILD/smoke/<target>, with a fixed seed
# Crash inputs go to BUILD/artifacts/<target>-crash-*; reproduce one with
# `BUILD/fuzz_<target> FILE`. Exits 1 if any target crashed (libFuzzer stops at the first).
# FUZZ_RUNS=N (if set, > 0) also stops a target after N executions, whichever comes first;
# FUZZ_ARGS adds libFuzzer options, e.g. FUZZ_ARGS=-only_ascii=1.
set -u

build=$1
seconds=$2
mode=$3
shift 3
targets=${*:-loader frame app}
dir=$(cd "$(dirname "$0")" && pwd)
failed=0
total_crashes=0

for t in $targets; do
    case $t in
    loader) opts="-dict=$dir/loader.dict" ;;
    frame) opts="-max_len=16384" ;;
    app) opts="-dict=$dir/app.dict -max_len=32768" ;;
    *) echo "run.sh: no target $t" >&2; exit 2 ;;
    esac
    if [ "$mode" = smoke ]; then
        corpus=$build/smoke/$t
        rm -rf "$corpus"
        opts="$opts -seed=1"
    else
        corpus=$build/corpus/$t
    fi
    [ "${FUZZ_RUNS:-0}" -gt 0 ] && opts="$opts -runs=$FUZZ_RUNS"
    mkdir -p "$corpus" "$build/artifacts" "$build/logs"
    log=$build/logs/$t-$mode.log
    before=$(ls "$build/artifacts" | grep -c "^$t-")
    start=$(date +%s)
    # shellcheck disable=SC2086
    "$build/fuzz_$t" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$build/artifacts/$t-" $opts ${FUZZ_ARGS:-} \
        "$corpus" "$build/seeds/$t" >"$log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    after=$(ls "$build/artifacts" | grep -c "^$t-")
    crashes=$((after - before))
    [ $rc -ne 0 ] && [ $crashes -eq 0 ] && crashes=1
    total_crashes=$((total_crashes + crashes))
    awk -v t="$t" -v secs="$secs" -v crashes="$crashes" '
        /stat::number_of_executed_units:/ { runs = $2 }
        /stat::average_exec_per_sec:/ { eps = $2 }
        / cov: / {
            for (i = 1; i < NF; i++) {
                if ($i == "cov:") cov = $(i + 1)
                if ($i == "ft:") ft = $(i + 1)
                if ($i == "corp:") corp = $(i + 1)
            }
        }
        END {
            printf "fuzz_%s: %s executions in %d s (%s exec/s), cov %s, ft %s, corpus %s, %d crashes\n",
                t, runs, secs, eps, cov, ft, corp, crashes
        }' "$log"
    if [ $rc -ne 0 ]; then
        failed=1
        echo "fuzz_$t: exit status $rc; the end of $log:" >&2
        tail -n 40 "$log" >&2
        ls "$build/artifacts" | grep "^$t-" | sed "s|^|    $build/artifacts/|" >&2
    fi
done
echo "fuzz: $total_crashes crashes in $(echo $targets | wc -w) targets ($mode, at most $seconds s each)"
exit $failed
