#!/usr/bin/env bash
# bench/storm.sh [--terminals N] [--communities C] [--families F] [--loops L] [--max-pending P]
#                [--keep] [--doc FILE]
#
# Issue 16's city storm: after a power cut every terminal of a city registers at once. A real
# tree of homesipd processes on loopback: the province C1 (the top) on 127.0.1.1, C communities
# D<d>@C1 on 127.0.2.<d>, F families H<f>@C1.D<d> under each on 127.0.3.x (default 4 x 5 = 20
# families), one UDP port for all; each with location-sqlite (its file on tmpfs: /dev/shm),
# tree and registrar, generated configs, 4 MiB UDP buffers, log.level warn, server.overload at its
# defaults (503 + Retry-After 5..10 s when a loop runs 1 s late or 10000 requests wait; --max-pending
# P lowers the second to P requests waiting on the store, to see the storm shed), and
# `server.loops: L` (default 1) when L > 1. The servers start together and register upward by
# themselves; once every family has its parent, the terminals "come back": one homesip-loadgen
# (bench/loadgen) sends N REGISTERs (u<n>, family n mod families, no digest: the families know
# no passwords here) all at once to the province from 8 source ports, follows each 302 down
# (province -> community -> family: 2 hops) and honours Retry-After on 503
# (--follow-redirects --honour-retry-after, 5 retries, per-attempt timeout 32 s as timer F).
#
# Reported: the time from the first REGISTER until every terminal is registered (the loadgen's
# first send -> last final response), terminals registered / failed / timed out after retries,
# the 503s the terminals got (those the servers sent, less any lost), the province's peak CPU
# (utime+stime sampled every 0.5 s) and each tier's CPU per terminal over the storm, from which
# the report extrapolates 10 M terminals (CPU-seconds per tier; on paper, linear).
#
# Binaries: HOMESIPD (default build/bin/homesipd), HOMESIP_PLUGINS (build/lib/homesip/plugins),
# HOMESIPCTL and LOADGEN (beside HOMESIPD), copied to the work directory at the start.
# Default N = 20000: a smoke run well under a minute. The report is printed; with --doc FILE it
# also replaces the lines between <!-- storm:begin --> and <!-- storm:end --> in FILE (the
# city-storm section of docs/benchmarks.md), nothing else. Every process is bounded in time and
# only the processes started here are stopped, by PID, on exit.
set -euo pipefail

BENCH=$(dirname "$(readlink -f "$0")")
ROOT=$(dirname "$BENCH")
HOMESIPD=${HOMESIPD:-$ROOT/build/bin/homesipd}
PLUGINS=${HOMESIP_PLUGINS:-$ROOT/build/lib/homesip/plugins}
HOMESIPCTL=${HOMESIPCTL:-$(dirname "$HOMESIPD")/homesipctl}
LOADGEN=${LOADGEN:-$(dirname "$HOMESIPD")/homesip-loadgen}

TERMINALS=20000 COMMUNITIES=4 FAMILIES=5 LOOPS=1 MAX_PENDING='' KEEP=0 DOC=''
while [ $# -gt 0 ]; do
  case "$1" in
    --terminals) TERMINALS=$2; shift ;;
    --communities) COMMUNITIES=$2; shift ;;
    --families) FAMILIES=$2; shift ;;
    --loops) LOOPS=$2; shift ;;
    --max-pending) MAX_PENDING=$2; shift ;;
    --keep) KEEP=1 ;;
    --doc) DOC=$2; shift ;;
    -h|--help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/storm.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
MAX_S=${MAX_S:-$(( 45 + TERMINALS / 2000 ))}  # the loadgen's whole run at most
SOCKETS=${SOCKETS:-8}
BUFF=4194304
TICK=$(getconf CLK_TCK)

say() { printf '\033[1m==> %s %s\033[0m\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { echo "bench/storm.sh: $*" >&2; exit 1; }

[ -x "$HOMESIPD" ] || die "no $HOMESIPD (run ./homesip build)"
[ -x "$HOMESIPCTL" ] || die "no $HOMESIPCTL"
[ -x "$LOADGEN" ] || die "no $LOADGEN (build the target homesip-loadgen)"
for p in location-sqlite tree registrar; do [ -f "$PLUGINS/$p.so" ] || die "no $PLUGINS/$p.so"; done
[ "$COMMUNITIES" -ge 1 ] && [ "$COMMUNITIES" -le 250 ] || die "--communities must be 1..250"
[ "$FAMILIES" -ge 1 ] && [ $(( COMMUNITIES * FAMILIES )) -le 1000 ] || die "at most 1000 families"

# tmpfs: the SQLite files (and the copied binaries) live in memory.
WORK=$(mktemp -d /dev/shm/homesip-storm-XXXXXX)
mkdir -p "$WORK/bin" "$WORK/plugins" "$WORK/conf" "$WORK/db" "$WORK/log"
cp "$HOMESIPD" "$HOMESIPCTL" "$LOADGEN" "$WORK/bin/"
cp "$PLUGINS"/*.so "$WORK/plugins/"
declare -A PID=() KIDS=()   # KIDS: common.sh's, for Kamailio only
SAMPLER=

# shellcheck source=bench/common.sh
source "$BENCH/common.sh"
stop_sampler() { [ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null; wait "$SAMPLER" 2>/dev/null || true; SAMPLER=; }
# 25 servers or more: SIGTERM to all at once, so that their goodbyes upward overlap, before
# cleanup waits for each (by PID, as common.sh does).
stop_all() { local id; say "stopping the servers"; for id in "${!PID[@]}"; do kill -TERM "${PID[$id]}" 2>/dev/null || true; done; }
trap 'status=$?; stop_sampler; stop_all; (exit $status); cleanup' EXIT

PORT=$(free_port)
family_address() {  # index 0.. -> 127.0.(3 + i/250).(i%250 + 1)
  echo "127.0.$(( 3 + $1 / 250 )).$(( $1 % 250 + 1 ))"
}

# write_config NAME DOMAIN ADDRESS TOP -> $WORK/conf/NAME.yaml (DOMAIN "" and TOP "": the province)
write_config() {
  local name=$1 domain=$2 address=$3 top=$4 id=${2:+$2.}$1
  {
    echo "server:"
    echo "  listen: [udp:$address:$PORT]"
    echo "  plugin_dirs: [$WORK/plugins]"
    echo "  udp_buffer_bytes: $BUFF"
    echo "  admin_socket: $WORK/$id.sock"
    [ "$LOOPS" -gt 1 ] && echo "  loops: $LOOPS"
    [ -n "$MAX_PENDING" ] && printf '  overload:\n    max_pending: %s\n' "$MAX_PENDING"
    echo "log:"
    echo "  level: warn"
    echo "  sink: stderr"
    echo "plugins:"
    echo "  - plugin: location-sqlite"
    echo "    path: $WORK/db/$id.sqlite"
    echo "  - plugin: tree"
    echo "    name: $name"
    echo "    domain: \"$domain\""
    [ -n "$top" ] && echo "    top: $top"
    echo "  - plugin: registrar"
    echo "    min_expires: 60"
  } >"$WORK/conf/$id.yaml"
}

start_server() {  # id
  "$WORK/bin/homesipd" --config "$WORK/conf/$1.yaml" >"$WORK/log/$1.log" 2>&1 &
  PID[$1]=$!
}

parent_of() {  # id -> the server that took its registration, "" before that
  "$WORK/bin/homesipctl" --socket "$WORK/$1.sock" --json tree 2>/dev/null |
    sed -n 's/^  "parent": "\([^"]*\)".*/\1/p'
}

TOP="sip:127.0.1.1:$PORT"
write_config C1 "" 127.0.1.1 ""
COMMUNITY_IDS=() FAMILY_IDS=() DOMAINS=()
i=0
for d in $(seq "$COMMUNITIES"); do
  write_config "D$d" C1 "127.0.2.$d" "$TOP"; COMMUNITY_IDS+=("C1.D$d")
  for f in $(seq "$FAMILIES"); do
    write_config "H$f" "C1.D$d" "$(family_address $i)" "$TOP"
    FAMILY_IDS+=("C1.D$d.H$f"); DOMAINS+=("C1.D$d.H$f"); i=$(( i + 1 ))
  done
done
ALL_IDS=(C1 "${COMMUNITY_IDS[@]}" "${FAMILY_IDS[@]}")

say "city storm: $TERMINALS terminals, province C1, $COMMUNITIES communities, ${#FAMILY_IDS[@]} families (udp port $PORT, loops $LOOPS)"
for id in "${ALL_IDS[@]}"; do start_server "$id"; done
# Every server registers upward by itself (families: 302 at C1, then 200 at their community).
deadline=$(( $(date +%s) + 30 ))
for id in "${COMMUNITY_IDS[@]}" "${FAMILY_IDS[@]}"; do
  until [ -n "$(parent_of "$id")" ]; do
    kill -0 "${PID[$id]}" 2>/dev/null || { tail -20 "$WORK/log/$id.log" >&2; die "$id exited"; }
    [ "$(date +%s)" -lt "$deadline" ] || { tail -20 "$WORK/log/$id.log" >&2; die "$id did not register upward in 30 s"; }
    sleep 0.2
  done
done
say "the tree is up: every family has its parent"

declare -A C0=() C1T=()
for id in "${ALL_IDS[@]}"; do C0[$id]=$(pid_ticks "${PID[$id]}"); done
# The province's CPU, sampled every 0.5 s while the storm lasts: its peak is the busiest half second.
( while :; do echo "$(date +%s.%N) $(pid_ticks "${PID[C1]}")"; sleep 0.5; done ) >"$WORK/c1-cpu.txt" &
SAMPLER=$!

say "power back: $TERMINALS REGISTERs at once to C1, following 302s, honouring Retry-After"
domains=$(IFS=,; echo "${DOMAINS[*]}")
t0=$(date +%s.%N); b0=$(busy_ticks)
rc=0
timeout -k 2 $(( MAX_S + 10 )) "$WORK/bin/homesip-loadgen" register --server "127.0.1.1:$PORT" --no-auth \
  --domains "$domains" --users "$TERMINALS" --requests "$TERMINALS" --rate 1000000 --sockets "$SOCKETS" \
  --follow-redirects --honour-retry-after --timeout-ms 32000 --max-seconds "$MAX_S" --tsv \
  >"$WORK/loadgen.tsv" 2>"$WORK/loadgen.err" || rc=$?
t1=$(date +%s.%N); b1=$(busy_ticks)
stop_sampler
for id in "${ALL_IDS[@]}"; do C1T[$id]=$(pid_ticks "${PID[$id]}"); done
[ -s "$WORK/loadgen.tsv" ] || { cat "$WORK/loadgen.err" >&2; die "the loadgen wrote nothing (exit $rc)"; }
IFS=$'\t' read -r requests ok failed timed_out retrans _ _ p50 p99 max lg_us elapsed _ busy retried redirects hops \
  <"$WORK/loadgen.tsv"

tier_ticks() {  # ids... -> their CPU ticks over the storm
  local t=0 id
  for id in "$@"; do t=$(( t + ${C1T[$id]} - ${C0[$id]} )); done
  echo $t
}
wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
peak=$(awk -v t="$TICK" 'NR > 1 && $1 > pt { p = 100 * ($2 - pc) / t / ($1 - pt); if (p > m) m = p } { pt = $1; pc = $2 }
  END { printf "%.0f", m }' "$WORK/c1-cpu.txt")
per_terminal() {  # ticks -> us of CPU per terminal
  awk -v c="$1" -v t="$TICK" -v n="$TERMINALS" 'BEGIN { printf "%.1f", 1e6 * c / t / n }'
}
prov_us=$(per_terminal "$(tier_ticks C1)")
comm_us=$(per_terminal "$(tier_ticks "${COMMUNITY_IDS[@]}")")
fam_us=$(per_terminal "$(tier_ticks "${FAMILY_IDS[@]}")")
ten_m() {  # us per terminal -> CPU-seconds for 10 M terminals
  awk -v u="$1" 'BEGIN { printf "%.0f", u * 1e7 / 1e6 }'
}
all_ok=no; [ "$ok" = "$TERMINALS" ] && all_ok=yes
# Everything else the machine ran meanwhile, in % of all its CPUs: tens of % = a disturbed run.
other=$(awk -v b=$(( b1 - b0 )) -v s="$(tier_ticks "${ALL_IDS[@]}")" -v t="$TICK" -v lg="$lg_us" -v n="$requests" \
  -v w="$wall" -v c="$(nproc)" 'BEGIN { o = (b - s) / t - lg * n / 1e6; printf "%.0f", o < 0 ? 0 : 100 * o / w / c }')

REPORT=$WORK/report.md
{
  echo "City storm ($(date -u '+%Y-%m-%d %H:%M UTC'), \`bench/storm.sh --terminals $TERMINALS --communities $COMMUNITIES --families $FAMILIES --loops $LOOPS${MAX_PENDING:+ --max-pending $MAX_PENDING}\`, $(nproc) CPUs):"
  echo
  echo "| | |"
  echo "|---|---|"
  echo "| terminals registered | $ok of $requests (failed $failed, timed out $timed_out after retries) |"
  echo "| every terminal registered after | $( [ $all_ok = yes ] && echo "$elapsed s" || echo "not all in $elapsed s") (first REGISTER -> last 200; wall $wall s) |"
  echo "| 302s followed | $redirects (at most $hops hops a terminal) |"
  echo "| 503 + Retry-After | $busy received by the terminals, $retried REGISTERs sent again after it |"
  echo "| retransmissions | $retrans |"
  echo "| latency per terminal | p50 $(( p50 / 1000 )) ms, p99 $(( p99 / 1000 )) ms, max $(( max / 1000 )) ms |"
  echo "| province C1 CPU | peak $peak % of a core (0.5 s samples), $prov_us us per terminal |"
  echo "| communities CPU | $comm_us us per terminal (all $COMMUNITIES) |"
  echo "| families CPU | $fam_us us per terminal (all ${#FAMILY_IDS[@]}) |"
  echo "| loadgen CPU | $lg_us us per terminal |"
  echo "| other CPU | $other % of the machine's $(nproc) CPUs (other work than this storm) |"
  echo
  echo "10 M terminals, linear from these per-terminal costs: the province $(ten_m "$prov_us") CPU-s, the"
  echo "communities $(ten_m "$comm_us") CPU-s together, the families $(ten_m "$fam_us") CPU-s together."
} >"$REPORT"
cat "$REPORT"

if [ -n "$DOC" ]; then
  grep -q '<!-- storm:begin -->' "$DOC" && grep -q '<!-- storm:end -->' "$DOC" || die "$DOC has no storm markers"
  python3 - "$DOC" "$REPORT" <<'PY'
import sys
doc, report = sys.argv[1], open(sys.argv[2]).read()
text = open(doc).read()
head, rest = text.split("<!-- storm:begin -->", 1)
_, tail = rest.split("<!-- storm:end -->", 1)
open(doc, "w").write(head + "<!-- storm:begin -->\n" + report + "<!-- storm:end -->" + tail)
PY
  say "written into $DOC"
fi
[ $all_ok = yes ]
