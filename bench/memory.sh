#!/usr/bin/env bash
# bench/memory.sh [--count N] [--runs R] [--doc FILE]
#
# Issue 16 item 6, run by `./homesip bench`: the location store's memory per binding and its restart
# time at N bindings (default 1 000 000; `./homesip bench --quick` gives 100 000). One SQLite file
# of N AORs with one binding each is made through the store's update() (`location_sqlite_bench fill`,
# plugins/location-sqlite/bench/memory_and_restart.cpp), then loaded R times (default 3), each in a
# process of its own as homesipd loads it at start (`location_sqlite_bench load`): the load's
# seconds, the seconds until a REGISTER of the last user loaded is confirmed, and the RSS growth per
# binding. Then R expiry sweep passes over an index of N AORs, every other one expired
# (`location_sqlite_bench sweep`), in the store's slices: the median and 99th percentile slice, the
# slowest by the wall clock and by the thread's CPU time (issue 16: none over 1 ms of the loop; a
# wall-clock outlier with a short CPU time is a preemption on a shared machine, not the sweep's work).
# The report goes into FILE between <!-- memory:begin --> and <!-- memory:end --> (added at
# the end the first time). Binary: LOCATION_BENCH (default build/bin/location_sqlite_bench).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
COUNT=1000000 RUNS=3 DOC=""
while [ $# -gt 0 ]; do
  case "$1" in
    --count) COUNT=${2:?--count needs a number}; shift 2 ;;
    --runs) RUNS=${2:?--runs needs a number}; shift 2 ;;
    --doc) DOC=${2:?--doc needs a file}; shift 2 ;;
    *) echo "bench/memory.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
BENCH=${LOCATION_BENCH:-$ROOT/build/bin/location_sqlite_bench}
[ -x "$BENCH" ] || { echo "bench/memory.sh: no $BENCH (build with tests: ./homesip build)" >&2; exit 1; }
WORK=$(mktemp -d /tmp/homesip-memory.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }  # key, "name k=v k=v ..." line
seconds() { printf '%.2f' "$(field "$1" "$2")"; }
bytes() { printf '%.0f' "$(field bytes_per_binding "$1")"; }
micros() { printf '%.0f' "$(field "$1" "$2")"; }

say "memory: filling $COUNT bindings through update()"
fill=$("$BENCH" fill "$WORK/location.sqlite" "$COUNT")
loads=()
for run in $(seq "$RUNS"); do
  say "memory: restart $run of $RUNS"
  loads+=("$("$BENCH" load "$WORK/location.sqlite")")
done
sweeps=()
for run in $(seq "$RUNS"); do
  say "memory: sweep pass $run of $RUNS"
  sweeps+=("$("$BENCH" sweep "$COUNT")")
done

REPORT=$WORK/report.md
{
  echo "### Location store at $COUNT bindings: memory and restart (bench/memory.sh)"
  echo
  echo "Generated on $(date -u '+%Y-%m-%d %H:%M UTC'); homesip $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown); $(nproc) CPUs; load average at the end $(cut -d' ' -f1-3 /proc/loadavg)."
  echo "One AOR per binding; the fill goes through the store's update(), each restart is a process of its own"
  echo "opening the file as homesipd starts; RSS growth per binding after the load (see plugins/location-sqlite/bench/)."
  echo
  echo "| | seconds | RSS per binding |"
  echo "|---|---:|---:|"
  echo "| fill through update() | $(seconds seconds "$fill") | $(bytes "$fill") B |"
  for line in "${loads[@]}"; do
    echo "| restart: load / REGISTER of the last user confirmed | $(seconds seconds "$line") / $(seconds register_answered_seconds "$line") | $(bytes "$line") B |"
  done
  echo
  echo "Expiry sweep of an index of $COUNT AORs, every other one expired, in the store's slices (budget 1024):"
  echo
  echo "| pass | slices | p50 slice | p99 slice | slowest slice, wall clock | slowest slice, CPU time |"
  echo "|---|---:|---:|---:|---:|---:|"
  for line in "${sweeps[@]}"; do
    echo "| $(field pass_ms "$line" | cut -d. -f1) ms | $(field slices "$line") | $(micros p50_slice_us "$line") µs | $(micros p99_slice_us "$line") µs | $(micros longest_slice_us "$line") µs | $(micros longest_slice_cpu_us "$line") µs |"
  done
  echo
  echo "The CPU time is the sweeping thread's own (CLOCK_THREAD_CPUTIME_ID): a slowest wall-clock slice far above"
  echo "the slowest CPU time is the thread waiting for a CPU another process held, not the sweep's work."
} >"$REPORT"

if [ -n "$DOC" ]; then
  BEGIN_MARK='<!-- memory:begin -->' END_MARK='<!-- memory:end -->'
  grep -qxF "$BEGIN_MARK" "$DOC" || printf '\n%s\n%s\n' "$BEGIN_MARK" "$END_MARK" >>"$DOC"
  awk -v b="$BEGIN_MARK" -v e="$END_MARK" -v rep="$REPORT" '
    $0 == b { print; while ((getline l < rep) > 0) print l; skip = 1; next }
    $0 == e { skip = 0 }
    !skip { print }' "$DOC" >"$DOC.tmp" && mv "$DOC.tmp" "$DOC"
  say "memory figures written to $DOC"
fi
cat "$REPORT"
