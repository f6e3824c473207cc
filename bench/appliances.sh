#!/usr/bin/env bash
# bench/appliances.sh [--quick] [--keep] [--doc FILE | --no-doc]
#
# Issue 14's benchmark: appliance service calls per second and NOTIFY fan-out at a family server.
# homesipd runs bench/homesip/appliance-bench.yaml: appliance-hub (domain home.local, no tree) and
# appliances-virtual (light.x, light.y); no authenticator and no policy plugin (every request is
# served: the hub is measured, not the digest or the policy). UDP on free 127.0.0.1 ports; SIPp
# is the load, as in bench/run.sh.
#
#   calls    MESSAGE sip:light.x@home.local {"service":"toggle"} -> 200 with the state
#            (bench/scenarios/appliance-message.xml; every call its own Call-ID and From-tag, so
#            the hub's retransmission cache, keyed by Call-ID/CSeq/From-tag, never answers one):
#            CALL_RATES steps of STEP_S s; a step passes with every call answered 200, no
#            retransmission and SIPp reaching >= 95 % of the rate; the sustained rate is the highest
#            step passed (steps stop at the first failure). The same for the state read {} of
#            light.y (READ_RATES). Then homesipd's CPU per call at CPU_RATE/s for CPU_S s.
#   fan-out  for N in FANOUT_NS watchers of light.x (bench/scenarios/appliance-watch.xml: one SIPp,
#            N SUBSCRIBE dialogs that answer every NOTIFY): once the hub holds the N subscriptions,
#            a second SIPp toggles light.x at FANOUT_RATE/N changes per second for FANOUT_S s, for
#            each target FANOUT_RATE in FANOUT_RATES NOTIFY/s (steps stop at the first failure).
#            Counted: toggles answered 200, NOTIFYs the hub sent (its notifies_total), NOTIFYs the
#            watchers got in order (CSeq above the last one; a late retransmission or one that
#            arrives after a newer state is not counted) and late ones; loss = sent - in order.
#            A step passes with every toggle 200, no loss, no late NOTIFY, every watcher's dialog
#            ended cleanly and >= 95 % of the target NOTIFY/s delivered. homesipd is started
#            afresh for every step.
# CPU: utime+stime of homesipd (/proc/PID/stat), of each SIPp, and "other CPU" = the machine's
# busy time (/proc/stat) minus those, i.e. everything else that ran meanwhile (tens of % = a
# disturbed step). For the first failed step the report says which side was the limit.
#
# Binaries: HOMESIPD (default build/bin/homesipd), HOMESIP_PLUGINS (build/lib/homesip/plugins),
# HOMESIPCTL (homesipctl beside HOMESIPD), copied to the work directory at the start.
# The report is printed and, unless --quick or --no-doc, written into docs/benchmarks.md between
# the markers <!-- appliances:begin --> and <!-- appliances:end --> (nothing else is touched).
# Every SIPp run is bounded in calls and time (its own -timeout and an outer `timeout`); only
# processes started here are stopped, by PID, on exit.
set -euo pipefail

BENCH=$(dirname "$(readlink -f "$0")")
ROOT=$(dirname "$BENCH")
HOMESIPD=${HOMESIPD:-$ROOT/build/bin/homesipd}
PLUGINS=${HOMESIP_PLUGINS:-$ROOT/build/lib/homesip/plugins}
HOMESIPCTL=${HOMESIPCTL:-$(dirname "$HOMESIPD")/homesipctl}
HS_CONFIG=$BENCH/homesip/appliance-bench.yaml
SCEN=$BENCH/scenarios
DOMAIN=home.local TOGGLED=light.x READ=light.y

QUICK=0 KEEP=0 DOC=$ROOT/docs/benchmarks.md DOC_SET=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --keep) KEEP=1 ;;
    --doc) DOC=$2; DOC_SET=1; shift ;;
    --no-doc) DOC=; DOC_SET=1 ;;
    -h|--help) sed -n '2,36p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/appliances.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

if [ $QUICK = 1 ]; then
  CALL_RATES=${CALL_RATES:-"1000 2000"}
  READ_RATES=${READ_RATES:-"1000"}
  STEP_S=${STEP_S:-2}
  CPU_RATE=${CPU_RATE:-1000} CPU_S=${CPU_S:-2}
  FANOUT_NS=${FANOUT_NS:-"10 100 1000"}
  FANOUT_RATES=${FANOUT_RATES:-"1000"}
  FANOUT_S=${FANOUT_S:-2}
  SETTLE=${SETTLE:-0.3}
else
  CALL_RATES=${CALL_RATES:-"1000 2000 5000 10000 15000 20000 25000 30000 40000 50000 60000"}
  READ_RATES=${READ_RATES:-"1000 2000 5000 10000 15000 20000 25000 30000 40000 50000 60000"}
  STEP_S=${STEP_S:-5}
  CPU_RATE=${CPU_RATE:-5000} CPU_S=${CPU_S:-5}
  FANOUT_NS=${FANOUT_NS:-"10 100 1000"}
  FANOUT_RATES=${FANOUT_RATES:-"1000 2000 5000 10000 20000 30000"}
  FANOUT_S=${FANOUT_S:-5}
  SETTLE=${SETTLE:-1}
fi
SUB_RATE=${SUB_RATE:-500}   # new watchers per second before a fan-out step
BUFF=4194304
TICK=$(getconf CLK_TCK)
NCPU=$(nproc)
[ $QUICK = 1 ] && [ $DOC_SET = 0 ] && DOC=

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { echo "bench/appliances.sh: $*" >&2; exit 1; }

[ -x "$HOMESIPD" ] || die "no $HOMESIPD (run ./homesip build)"
[ -x "$HOMESIPCTL" ] || die "no $HOMESIPCTL (run ./homesip build)"
for p in appliance-hub appliances-virtual; do [ -f "$PLUGINS/$p.so" ] || die "no $PLUGINS/$p.so"; done
command -v sipp >/dev/null || die "sipp not installed"

WORK=$(mktemp -d /tmp/homesip-appliance-bench-XXXXXX)
# Snapshot the binaries: a rebuild during the run must not swap them under us.
mkdir -p "$WORK/bin" "$WORK/plugins"
cp "$HOMESIPD" "$HOMESIPCTL" "$WORK/bin/"
cp "$PLUGINS"/*.so "$WORK/plugins/"
# calls:  kind target calls ok failed retrans achieved p50 p99 srv% sipp% srv_us other%
RES=$WORK/calls.tsv
# fan-out: n target changes_per_s toggles toggles_ok toggles_retrans sent in_order late loss
#          watchers_ok watchers_failed wall notify_per_s srv% watcher% driver% srv_us other% per_change
FAN=$WORK/fanout.tsv
: >"$RES"; : >"$FAN"
declare -A PID=() PORT=() KIDS=()
S=homesip SIPP_PORT=

# shellcheck source=bench/common.sh
source "$BENCH/common.sh"

pct_of() {  # ticks wall_s -> % of one core
  awk -v c="$1" -v t="$TICK" -v w="$2" 'BEGIN { printf "%.0f", (w > 0 ? 100 * c / t / w : 0) }'
}

hub_metric() {  # name -> the hub's metric (homesip_appliance_hub_NAME) from the admin socket
  "$WORK/bin/homesipctl" --socket "$WORK/admin.sock" stats 2>/dev/null |
    awk -v k="homesip_appliance_hub_$1:" '$1 == k { print $2; found = 1 } END { if (!found) print -1 }'
}

sipp_call() {  # ENTITY BODY -> one MESSAGE answered 200
  local d=$WORK/probe; mkdir -p "$d"
  (cd "$d" && timeout 5 sipp "127.0.0.1:${PORT[$S]}" -sf "$SCEN/appliance-message.xml" -s "$1" \
     -key domain "$DOMAIN" -key body "$2" -m 1 -i 127.0.0.1 -p "$(free_port)" -nostdin \
     -timeout 2s -timeout_error -recv_timeout 1000 >/dev/null 2>&1)
}

start_server() {
  local port dir=$WORK/homesipd
  port=$(free_port); PORT[$S]=$port
  SIPP_PORT=$(free_port); [ "$SIPP_PORT" != "$port" ] || SIPP_PORT=$(free_port)
  mkdir -p "$dir"; rm -f "$WORK/admin.sock"
  "$WORK/bin/homesipd" --config "$HS_CONFIG" \
    --set "server.listen=[udp:127.0.0.1:$port]" \
    --set "server.plugin_dirs=[$WORK/plugins]" \
    --set "server.udp_buffer_bytes=$BUFF" \
    --set "server.admin_socket=$WORK/admin.sock" \
    --set "log.level=warn" --set "log.sink=stderr" >>"$dir/homesipd.log" 2>&1 &
  PID[$S]=$!
  for _ in $(seq 50); do
    kill -0 "${PID[$S]}" 2>/dev/null || { tail -20 "$dir/homesipd.log" >&2; die "homesipd exited at start"; }
    [ -S "$WORK/admin.sock" ] && sipp_call "$READ" '{}' && break
    sleep 0.2
  done
  sipp_call "$READ" '{}' || { tail -20 "$dir/homesipd.log" >&2; die "homesipd does not answer MESSAGE $READ on udp 127.0.0.1:$port"; }
}

sipp_stats() {  # stat.csv -> "ok failed retrans achieved" of SIPp's last stats line
  awk -F';' 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    { last = $0 }
    END { n = split(last, v, ";");
          printf "%d %d %d %.0f\n", v[col["SuccessfulCall(C)"]], v[col["FailedCall(C)"]],
                 v[col["Retransmissions(C)"]], v[col["CallRate(C)"]] }' "$1" 2>/dev/null || true
}

# The MESSAGE load: SIPp in this very shell, so that `times` sees its CPU.
#   run_driver DIR ENTITY BODY RATE CALLS KIND -> SIPp's exit status in $DRIVER_RC
run_driver() {
  local d=$1 entity=$2 body=$3 rate=$4 calls=$5 kind=$6 limit=$(( $5 / $4 + 10 )) freq=1000
  # SIPp writes response times every `freq` calls: a divisor of the calls, so none is left out.
  [ "$calls" -lt $freq ] && freq=$calls
  while [ $(( calls % freq )) != 0 ]; do freq=$(( freq / 2 )); done
  DRIVER_RC=0
  (cd "$d" && exec timeout -k 2 $(( limit + 5 )) sipp "127.0.0.1:${PORT[$S]}" -sf "$SCEN/appliance-message.xml" \
     -s "$entity" -key domain "$DOMAIN" -key body "$body" -cid_str "$kind-%u-%p@%s" \
     -r "$rate" -m "$calls" -buff_size $BUFF -i 127.0.0.1 -p "$SIPP_PORT" -nostdin \
     -timeout "${limit}s" -timeout_error -trace_stat -stf stat.csv -fd 1 \
     -trace_rtt -rtt_freq $freq -trace_screen -screen_file screen.txt -trace_err >sipp.out 2>&1) || DRIVER_RC=$?
}

# measure KIND ENTITY BODY RATE CALLS -> a row in $RES; echoes pass / fail / slow
measure() {
  local kind=$1 entity=$2 body=$3 rate=$4 calls=$5 d=$WORK/runs/$1-$4
  mkdir -p "$d"; rm -f "$d"/*
  kill -0 "${PID[$S]}" 2>/dev/null || die "homesipd is not running"
  local b0 b1 c0 c1 t0 t1
  b0=$(busy_ticks); c0=$(cpu_ticks "$S"); times >"$d/times0"; t0=$(date +%s.%N)
  run_driver "$d" "$entity" "$body" "$rate" "$calls" "$kind"
  t1=$(date +%s.%N); times >"$d/times1"; c1=$(cpu_ticks "$S"); b1=$(busy_ticks)
  local row ok failed retr achieved
  row=$(sipp_stats "$d/stat.csv"); [ -n "$row" ] || row="0 $calls 0 0"
  read -r ok failed retr achieved <<<"$row"
  local pct; pct=$(cat "$d"/*_rtt.csv 2>/dev/null | awk -F';' 'NR > 1 && $3 == 1 {print $2}' | sort -n |
    awk '{ a[NR] = $1 } END { if (NR == 0) { print "- -"; exit }
          i50 = int(NR * 0.50); if (i50 < 1) i50 = 1; i99 = int(NR * 0.99); if (i99 < 1) i99 = 1;
          print a[i50], a[i99] }') || pct="- -"
  local wall srv_pct sipp_pct us other
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  srv_pct=$(pct_of $(( c1 - c0 )) "$wall")
  sipp_pct=$(awk -v a="$(children_cpu_s "$d/times0")" -v b="$(children_cpu_s "$d/times1")" -v w="$wall" \
    'BEGIN { printf "%.0f", 100 * (b - a) / w }')
  us=$(awk -v c=$(( c1 - c0 )) -v t="$TICK" -v n="$calls" 'BEGIN { printf "%.1f", 1e6 * c / t / n }')
  other=$(awk -v b=$(( b1 - b0 )) -v t="$TICK" -v w="$wall" -v a="$srv_pct" -v c="$sipp_pct" \
    'BEGIN { o = 100 * b / t / w - a - c; printf "%.0f", o < 0 ? 0 : o }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$rate" "$calls" "$ok" "$failed" "$retr" \
    "$achieved" "${pct% *}" "${pct#* }" "$srv_pct" "$sipp_pct" "$us" "$other" >>"$RES"
  local verdict=pass
  if [ "$DRIVER_RC" != 0 ] || [ "$ok" != "$calls" ] || [ "$failed" != 0 ] || [ "$retr" != 0 ]; then verdict=fail
  elif [ "$achieved" -lt $(( rate * 95 / 100 )) ]; then verdict=slow; fi
  printf '    %-11s %6s/s  calls %-7s ok %-7s failed %-6s retrans %-6s achieved %6s/s  rtt p50/p99 %s ms  cpu homesipd %s%% sipp %s%% other %s%%  %s us/call  -> %s\n' \
    "$kind" "$rate" "$calls" "$ok" "$failed" "$retr" "$achieved" "${pct/ //}" "$srv_pct" "$sipp_pct" "$other" "$us" \
    "$verdict" >&2
  sleep "$SETTLE"
  echo "$verdict"
}

# Which side was the limit at a failed step: HOMESIPD% SIPP% (the busiest SIPp) OTHER% (the rest,
# other SIPp included) WHAT-WENT-WRONG -> a phrase
limit_of() {
  local srv=$1 load=$2 other=$3 what=$4 busy side
  busy=$(( (srv + load + other) / NCPU ))
  if [ "$load" -ge 90 ]; then side="SIPp (its one thread $load % busy; homesipd $srv %)"
  elif [ "$srv" -ge 90 ]; then side="homesipd (its main loop $srv % busy; SIPp $load %)"
  elif [ "$busy" -ge 90 ]; then
    side="the machine: its $NCPU cores $busy % busy (homesipd $srv %, SIPp $load %, other $other %)"
  else side="neither CPU-bound (homesipd $srv %, SIPp $load %, other $other %)"; fi
  echo "$side: $what"
}

# steps KIND ENTITY BODY RATES -> sets BEST, BEST_ACH, LIMIT
steps() {
  local kind=$1 entity=$2 body=$3 rate v
  BEST=0 BEST_ACH=0 LIMIT="not reached (every step passed)"
  for rate in $4; do
    v=$(measure "$kind" "$entity" "$body" "$rate" $(( rate * STEP_S )))
    if [ "$v" = pass ]; then BEST=$rate; BEST_ACH=$(tail -1 "$RES" | cut -f7); continue; fi
    local f; IFS=$'\t' read -r -a f <<<"$(tail -1 "$RES")"
    LIMIT="$(limit_of "${f[9]}" "${f[10]}" "${f[12]}" "${f[4]} failed, ${f[5]} retransmissions, ${f[6]}/s achieved") at $rate/s"
    break
  done
}

# ---- the watchers' counts ----

# counts.csv -> "in_order late" from SIPp's last -trace_counts line: appliance-watch.xml's 200s
# (its "200_Sent" columns: 1st the first NOTIFY's, 2nd, 3rd and 5th those of changes in order,
# 4th those of late NOTIFYs, 6th the final NOTIFY's).
watch_counts() {
  awk -F';' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+_200_Sent$/) c[++n] = i; next }
    { last = $0 }
    END { split(last, v, ";"); printf "%d %d\n", v[c[2]] + v[c[3]] + v[c[5]], v[c[4]] }' "$1"
}

# start_watchers DIR N -> N dialogs of appliance-watch.xml from one SIPp (bounded by its own
# -timeout and an outer timeout) in the background; WATCH_PID (the outer timeout's) and
# WATCH_SIPP (SIPp's, for its CPU); status 0 once the hub holds the N subscriptions.
start_watchers() {
  local d=$1 n=$2 wlimit=$(( $2 / SUB_RATE + FANOUT_S + 60 )) subs=-1
  (cd "$d" && exec timeout -k 2 $(( wlimit + 5 )) sipp "127.0.0.1:${PORT[$S]}" -sf "$SCEN/appliance-watch.xml" \
     -s "$TOGGLED" -key domain "$DOMAIN" -key hub_host 127.0.0.1 -key hub_port "${PORT[$S]}" \
     -cid_str "watch-%u-%p@%s" -r "$SUB_RATE" -m "$n" -l "$n" -buff_size $BUFF \
     -i 127.0.0.1 -p "$(free_port)" -nostdin -timeout "${wlimit}s" -timeout_error \
     -trace_stat -stf wstat.csv -trace_counts -fd 1 -trace_err >watch.out 2>&1) &
  WATCH_PID=$!
  for _ in $(seq 300); do
    subs=$(hub_metric subscriptions); [ "$subs" = "$n" ] && break
    kill -0 $WATCH_PID 2>/dev/null || break
    sleep 0.1
  done
  WATCH_SIPP=$(ps -o pid= --ppid $WATCH_PID 2>/dev/null | head -1 | tr -d ' ')
  [ "$subs" = "$n" ] && [ -n "$WATCH_SIPP" ] && return 0
  echo "    fan-out N=$n: the hub holds $subs subscriptions, not $n" >&2
  return 1
}

snapshot() {  # -> "busy_ticks homesipd_ticks watchers_ticks epoch_s notifies_total"
  echo "$(busy_ticks) $(cpu_ticks "$S") $(pid_ticks "$WATCH_SIPP") $(date +%s.%N) $(hub_metric notifies_total)"
}

# watch_notifies FILE SNAPSHOT0: while the driver runs and after, every 0.1 s, a snapshot line in
# FILE whenever the hub sent NOTIFYs; its last line is the step's end. Ends once FILE.stop exists
# and no NOTIFY left the hub for 1 s (at most 60 s).
watch_notifies() {
  local out=$1 last=$2 now still=0
  echo "$last" >"$out"
  for _ in $(seq 600); do
    sleep 0.1
    now=$(snapshot)
    if [ "${now##* }" -gt "${last##* }" ]; then last=$now still=0; echo "$now" >>"$out"
    else still=$(( still + 1 )); [ -e "$out.stop" ] && [ $still -ge 10 ] && break; fi
  done
}

# DIR -> seconds from the driver's start to its last 200 (SIPp's response times, Date_ms since its
# start): the hub answers a toggle after it has sent that change's NOTIFYs.
driver_span() {
  cat "$1"/*_rtt.csv 2>/dev/null | awk -F';' 'NR > 1 && $1 + 0 > m { m = $1 + 0 } END { if (m > 0) printf "%.3f\n", m / 1000 }'
}

# fanout N TARGET -> a row in $FAN; echoes pass / fail / slow. Runs against a fresh homesipd.
fanout() {
  local n=$1 target=$2 d=$WORK/runs/fanout-$1-$2
  local per_s=$(( target / n )); [ $per_s -ge 1 ] || per_s=1
  local changes=$(( per_s * FANOUT_S ))
  mkdir -p "$d"; rm -f "$d"/*
  if ! start_watchers "$d" "$n"; then
    wait "$WATCH_PID" 2>/dev/null || true
    printf '%s\t%s\t%s\t%s\t0\t0\t0\t0\t0\t0\t0\t%s\t0\t0\t0\t0\t0\t0\t0\t0\n' "$n" "$target" "$per_s" "$changes" "$n" >>"$FAN"
    echo fail; return
  fi
  local s0 poller
  s0=$(snapshot)
  watch_notifies "$d/notifies" "$s0" &
  poller=$!
  times >"$d/times0"
  run_driver "$d" "$TOGGLED" '{"service":"toggle"}' "$per_s" "$changes" "toggle-$n-$target"
  times >"$d/times1"
  touch "$d/notifies.stop"; wait $poller
  wait "$WATCH_PID" 2>/dev/null || true   # the watchers unsubscribe 4 s after their last NOTIFY
  fanout_row "$n" "$target" "$per_s" "$changes" "$d" "$s0" "$(tail -1 "$d/notifies")"
}

# fanout_row N TARGET PER_S CHANGES DIR SNAPSHOT0 SNAPSHOT1 -> the row in $FAN, the verdict
fanout_row() {
  local n=$1 target=$2 per_s=$3 changes=$4 d=$5 b0 c0 w0 t0 n0 b1 c1 w1 t1 n1
  read -r b0 c0 w0 t0 n0 <<<"$6"
  read -r b1 c1 w1 t1 n1 <<<"$7"
  local tok tretr wok wfail in_order late
  read -r tok _ tretr _ <<<"$(sipp_stats "$d/stat.csv")"
  read -r wok wfail _ _ <<<"$(sipp_stats "$d/wstat.csv")"
  read -r in_order late <<<"$(watch_counts "$(find "$d" -name "*_counts.csv" | head -1)")"
  local sent=$(( n1 - n0 )) wall srv_pct w_pct drv_pct us other span rate per_change
  local loss=$(( sent - in_order ))
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  srv_pct=$(pct_of $(( c1 - c0 )) "$wall")
  w_pct=$(pct_of $(( w1 - w0 )) "$wall")
  drv_pct=$(awk -v a="$(children_cpu_s "$d/times0")" -v b="$(children_cpu_s "$d/times1")" -v w="$wall" \
    'BEGIN { printf "%.0f", (w > 0 ? 100 * (b - a) / w : 0) }')
  us=$(awk -v c=$(( c1 - c0 )) -v t="$TICK" -v s="$sent" 'BEGIN { printf "%.1f", (s > 0 ? 1e6 * c / t / s : 0) }')
  other=$(awk -v b=$(( b1 - b0 )) -v t="$TICK" -v w="$wall" -v x="$srv_pct" -v y="$w_pct" -v z="$drv_pct" \
    'BEGIN { o = (w > 0 ? 100 * b / t / w : 0) - x - y - z; printf "%.0f", o < 0 ? 0 : o }')
  # Over the period the toggles were spread over, or longer when the NOTIFYs lagged behind them:
  # from the driver's start to its last 200 (else to the hub's last NOTIFY seen by the poller).
  span=$(driver_span "$d"); [ -n "$span" ] || span=$wall
  rate=$(awk -v s="$in_order" -v w="$span" -v d="$FANOUT_S" 'BEGIN { if (w < d) w = d; printf "%.0f", s / w }')
  per_change=$(awk -v s="$sent" -v k="$tok" -v n="$n" 'BEGIN { printf "%.2f", (k > 0 ? s / k / n : 0) }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$target" "$per_s" \
    "$changes" "$tok" "$tretr" "$sent" "$in_order" "$late" "$loss" "$wok" "$wfail" "$span" "$rate" "$srv_pct" \
    "$w_pct" "$drv_pct" "$us" "$other" "$per_change" >>"$FAN"
  local verdict=pass
  if [ "$DRIVER_RC" != 0 ] || [ "$tok" != "$changes" ] || [ "$tretr" != 0 ] || [ "$loss" != 0 ] ||
     [ "$late" != 0 ] || [ "$wok" != "$n" ] || [ "$wfail" != 0 ]; then verdict=fail
  elif [ "$rate" -lt $(( target * 95 / 100 )) ]; then verdict=slow; fi
  printf '    fan-out N=%-5s %6s NOTIFY/s target (%s toggles/s)  toggles %s/%s (retrans %s)  NOTIFYs sent %s in order %s late %s loss %s (%s per change per watcher)  watchers ok %s failed %s  %s NOTIFY/s over %s s  cpu homesipd %s%% watchers %s%% driver %s%% other %s%%  %s us/NOTIFY  -> %s\n' \
    "$n" "$target" "$per_s" "$tok" "$changes" "$tretr" "$sent" "$in_order" "$late" "$loss" "$per_change" "$wok" \
    "$wfail" "$rate" "$span" "$srv_pct" "$w_pct" "$drv_pct" "$other" "$us" "$verdict" >&2
  echo "$verdict"
}

# ---------------------------------------------------------------------------------------------
START=$(date +%s)
say "work directory $WORK; $( [ $QUICK = 1 ] && echo quick || echo full ) run"
start_server
say "homesipd started: pid ${PID[$S]}, udp 127.0.0.1:${PORT[$S]}"

say "service calls: MESSAGE $TOGGLED {\"service\":\"toggle\"} steps $CALL_RATES/s, $STEP_S s each"
steps toggle "$TOGGLED" '{"service":"toggle"}' "$CALL_RATES"
CALL_BEST=$BEST CALL_BEST_ACH=$BEST_ACH CALL_LIMIT=$LIMIT
say "state reads: MESSAGE $READ {} steps $READ_RATES/s, $STEP_S s each"
steps read "$READ" '{}' "$READ_RATES"
READ_BEST=$BEST READ_BEST_ACH=$BEST_ACH READ_LIMIT=$LIMIT
say "CPU per call at $CPU_RATE/s for $CPU_S s"
measure cpu-toggle "$TOGGLED" '{"service":"toggle"}' "$CPU_RATE" $(( CPU_RATE * CPU_S )) >/dev/null
measure cpu-read "$READ" '{}' "$CPU_RATE" $(( CPU_RATE * CPU_S )) >/dev/null

say "NOTIFY fan-out: N = $FANOUT_NS watchers of $TOGGLED, targets $FANOUT_RATES NOTIFY/s, $FANOUT_S s of toggles each"
declare -A FAN_BEST=() FAN_LIMIT=() FAN_TARGETS=()
for n in $FANOUT_NS; do
  FAN_BEST[$n]=0 FAN_LIMIT[$n]="not reached (every step passed)"
  targets=""   # at least one change per second: a target below N would not be the rate sent
  for target in $FANOUT_RATES; do [ "$target" -ge "$n" ] && targets="$targets $target"; done
  FAN_TARGETS[$n]=${targets:-$n}
  for target in ${FAN_TARGETS[$n]}; do
    stop_server "$S"; start_server   # here, not in fanout's subshell: the exit trap stops it
    v=$(fanout "$n" "$target")
    if [ "$v" = pass ]; then FAN_BEST[$n]=$target; continue; fi
    IFS=$'\t' read -r -a f <<<"$(tail -1 "$FAN")"
    busiest=${f[15]} rest=${f[16]}; [ "${f[16]}" -gt "$busiest" ] && busiest=${f[16]} rest=${f[15]}
    FAN_LIMIT[$n]="$(limit_of "${f[14]}" "$busiest" $(( f[18] + rest )) "toggles ${f[4]}/${f[3]} answered, ${f[8]} late NOTIFYs, ${f[9]} lost, ${f[11]} watchers failed, ${f[13]} NOTIFY/s delivered") at $target/s"
    break
  done
done
stop_server "$S"
ELAPSED=$(( $(date +%s) - START ))

# ---- the report ----
row_of() { awk -F'\t' -v k="$1" '$1 == k' "$RES" | tail -1; }
max_of() { local m=0 r; for r in $1; do [ "$r" -gt $m ] && m=$r; done; echo $m; }
sust() {  # best achieved max first -> cell
  if [ "$1" = 0 ]; then echo "< $4 (first step failed)"
  else echo "$( [ "$1" = "$3" ] && echo '≥ ' || true)**$1** (achieved $2$( [ "$1" = "$3" ] && echo ', highest step' || true))"; fi
}
hs_rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -n "$(git -C "$ROOT" status --porcelain -- core plugins sdk 2>/dev/null)" ] && hs_rev="$hs_rev+uncommitted changes"
[ "$HOMESIPD" != "$ROOT/build/bin/homesipd" ] &&
  hs_rev="$hs_rev (binary: $HOMESIPD of $(date -u -r "$HOMESIPD" '+%Y-%m-%d %H:%M UTC'), plugins: $PLUGINS)"
max_other=$(awk -F'\t' '{ if ($13 > m) m = $13 } END { print m + 0 }' "$RES")
fan_other=$(awk -F'\t' '{ if ($19 > m) m = $19 } END { print m + 0 }' "$FAN")
[ "$fan_other" -gt "$max_other" ] && max_other=$fan_other

REPORT=$WORK/appliances.md
{
  echo "## Appliances (issue 14)"
  echo
  echo "Generated by \`bench/appliances.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'), $( [ $QUICK = 1 ] && echo '**quick smoke run (not a benchmark)**' || echo 'full run'), ${ELAPSED} s; homesip $hs_rev, $(sipp -v 2>/dev/null | grep -o 'SIPp v[^ ]*' | head -1 | sed 's/\.$//')."
  echo "Machine: $NCPU CPUs ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')) shared by homesipd, SIPp and whatever else ran: see *other CPU*."
  [ "$max_other" -ge 20 ] && echo "**Disturbed run**: other work took up to $max_other % of a core during some steps (*other CPU* column); the rows where it is high are lower bounds of what homesipd does on a quiet machine."
  echo
  echo "Set-up: \`homesipd --config bench/homesip/appliance-bench.yaml\` (appliance-hub serving \`home.local\` without the tree, appliances-virtual with \`light.x\` and \`light.y\`; **no authenticator and no policy plugin**: every MESSAGE and SUBSCRIBE is served, so the hub is measured, not the digest or the policy), started by the script on a free 127.0.0.1 UDP port, \`server.udp_buffer_bytes\` $BUFF, log level warn."
  echo "Service calls: SIPp \`bench/scenarios/appliance-message.xml\` \`-s light.x -key body '{\"service\":\"toggle\"}'\` (state reads: \`-s light.y -key body '{}'\`), UDP, \`-buff_size $BUFF\`, \`-r RATE -m RATE×$STEP_S\`, each call its own Call-ID and From-tag (the hub's retransmission cache never answers); a step passes with every MESSAGE answered 200, 0 retransmissions and ≥ 95 % of the rate achieved; steps stop at the first failure."
  echo "NOTIFY fan-out: one SIPp runs N watchers of \`light.x\` (\`bench/scenarios/appliance-watch.xml\`, \`-m N -l N -r $SUB_RATE\`: SUBSCRIBE, then a 200 to every NOTIFY, sent to the NOTIFY's Via); once the hub holds N subscriptions a second SIPp toggles \`light.x\` at target/N changes per second for $FANOUT_S s; homesipd is started afresh for every step. *Sent*: the hub's \`notifies_total\`; *in order*: NOTIFYs a watcher got with a CSeq above its last one; *late*: retransmissions the watcher had answered already, or older states arriving after newer ones; *loss* = sent − in order. A step passes with every toggle 200, no loss, no late NOTIFY, every watcher's dialog ended cleanly (unsubscribe → 200 → NOTIFY terminated) and ≥ 95 % of the target NOTIFY/s delivered. *NOTIFY/s delivered* = in order / the longer of the $FANOUT_S s the toggles were spread over and the time from the driver's start to the 200 of its last toggle (*time*: the hub answers a toggle once it has sent that change's NOTIFYs); CPU is counted from just before the driver's start to the last poll of \`homesipctl stats\` (every 0.1 s) that saw the hub's NOTIFY count grow. *Sent per change per watcher* is 1.00 when every change gives each watcher one NOTIFY (above 1: the hub notified a state twice)."
  echo "CPU: utime+stime from \`/proc/PID/stat\` (homesipd: all threads; SIPp: the waited-for child, \`times\`; the watchers' SIPp: its \`/proc\` entry), in % of one core; *other CPU* = the machine's busy time (\`/proc/stat\`) minus homesipd and SIPp: everything else that ran meanwhile. SIPp is single-threaded: near 100 % it is the limit (the registrar runs of this file reach about 60k calls/s with it)."
  if awk -F'\t' '$20 > 1.02 { found = 1 } END { exit !found }' "$FAN"; then
    echo
    echo "**More NOTIFYs than changes** in some fan-out steps (*sent per change per watcher* above 1.00): changes are counted from the toggles SIPp saw answered; in an overloaded step the hub also carried out toggles whose answers came too late, and their NOTIFYs are counted. (Until 5ba7a8c the hub also re-applied an older toggle's answer over a newer state, which gave 2 NOTIFYs per change: fixed, and checked by its unit tests.)"
  fi
  echo
  echo "| | |"
  echo "|---|---|"
  echo "| service calls/s sustained (MESSAGE toggle → 200) | $(sust "$CALL_BEST" "$CALL_BEST_ACH" "$(max_of "$CALL_RATES")" "${CALL_RATES%% *}") |"
  echo "| its limit | $CALL_LIMIT |"
  echo "| state reads/s sustained (MESSAGE {} → 200) | $(sust "$READ_BEST" "$READ_BEST_ACH" "$(max_of "$READ_RATES")" "${READ_RATES%% *}") |"
  echo "| its limit | $READ_LIMIT |"
  for k in cpu-toggle cpu-read; do
    IFS=$'\t' read -r _ rate calls ok failed retr ach p50 p99 spct sipct us other <<<"$(row_of $k)"
    echo "| homesipd CPU per ${k#cpu-} at $rate/s | **$us µs** (homesipd $spct %, SIPp $sipct %, other $other %; $ok of $calls answered 200, $retr retrans; RTT p50 / p99 $p50 / $p99 ms) |"
  done
  for n in $FANOUT_NS; do
    local_best=${FAN_BEST[$n]}
    row=$(awk -F'\t' -v n="$n" -v t="$local_best" '$1 == n && $2 == t' "$FAN" | tail -1)
    if [ "$local_best" = 0 ] || [ -z "$row" ]; then
      echo "| NOTIFY/s with $n watchers of one entity | < $(set -- ${FAN_TARGETS[$n]}; echo "$1") (first step failed) — limit: ${FAN_LIMIT[$n]} |"
    else
      IFS=$'\t' read -r _ _ per_s _ _ _ sent _ _ _ _ _ _ rate spct wpct dpct us other pc <<<"$row"
      echo "| NOTIFY/s with $n watchers of one entity | $( [ "$local_best" = "$(max_of "${FAN_TARGETS[$n]}")" ] && echo '≥ ' || true)**$local_best** target passed ($rate delivered/s, $per_s change(s)/s; homesipd **$us µs per NOTIFY**, $spct %; watchers' SIPp $wpct %, other $other %) — limit: ${FAN_LIMIT[$n]} |"
    fi
  done
  echo
  echo "Every run (CPU in % of one core):"
  echo
  echo "| run | target/s | calls | 200 | failed | retrans | achieved/s | RTT p50 / p99 ms | homesipd CPU | SIPp CPU | other CPU | homesipd µs/call |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  while IFS=$'\t' read -r k rate calls ok failed retr ach p50 p99 spct sipct us other; do
    printf '| %s | %s | %s | %s | %s | %s | %s | %s / %s | %s %% | %s %% | %s %% | %s |\n' \
      "$k" "$rate" "$calls" "$ok" "$failed" "$retr" "$ach" "$p50" "$p99" "$spct" "$sipct" "$other" "$us"
  done <"$RES"
  echo
  echo "| watchers N | target NOTIFY/s | changes/s | toggles 200 / sent | toggle retrans | NOTIFYs sent | in order | late | loss | sent per change per watcher | watchers ok / failed | NOTIFY/s delivered | time s | homesipd CPU | watchers' SIPp CPU | driver SIPp CPU | other CPU | homesipd µs/NOTIFY |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  while IFS=$'\t' read -r n target per_s changes tok tretr sent in_order late loss wok wfail wall rate spct wpct dpct us other pc; do
    printf '| %s | %s | %s | %s / %s | %s | %s | %s | %s | %s | %s | %s / %s | %s | %s | %s %% | %s %% | %s %% | %s %% | %s |\n' \
      "$n" "$target" "$per_s" "$tok" "$changes" "$tretr" "$sent" "$in_order" "$late" "$loss" "$pc" "$wok" "$wfail" \
      "$rate" "$wall" "$spct" "$wpct" "$dpct" "$other" "$us"
  done <"$FAN"
} >"$REPORT"

BEGIN_MARK='<!-- appliances:begin -->'
END_MARK='<!-- appliances:end -->'
if [ -n "$DOC" ]; then
  [ -f "$DOC" ] || die "no $DOC"
  if ! grep -qxF "$BEGIN_MARK" "$DOC"; then
    # First run: the section goes before bench/run.sh's generated part (or at the end).
    awk -v b="$BEGIN_MARK" -v e="$END_MARK" '
      !done && /^<!-- BEGIN GENERATED: bench\/run.sh -->$/ { print b; print e; print ""; done = 1 }
      { print }
      END { if (!done) { print ""; print b; print e } }' "$DOC" >"$DOC.tmp" && mv "$DOC.tmp" "$DOC"
  fi
  write_between_markers "$DOC" appliances "$REPORT"
  say "results written to $DOC (between $BEGIN_MARK and $END_MARK)"
else
  say "results (not written to docs/: quick run or --no-doc; copy in $REPORT)"
  KEEP=1
fi
cat "$REPORT"
