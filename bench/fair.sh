#!/usr/bin/env bash
# bench/fair.sh [--quick] [--servers homesip,homesip-eager,homesip-prev,homesip2,kamailio] [--keep] [--doc FILE | --no-doc]
#
# The fair bench (issue 16 part 1): homesipd and tuned Kamailio under the same load from our own
# generator (bench/loadgen: C++, one thread, sendmmsg/recvmmsg, RFC 3261 retransmissions), beside the
# bare responder (`homesip-loadgen responder`: a fixed minimal 200 per request, no state), the
# machine's ceiling, measured in the same run. Servers alternate for every measurement.
#   homesipd  bench/homesip/family-bench.yaml (location-sqlite, synchronous: full, registrar) for
#             REGISTER; bench/homesip/redirect-bench.yaml (the same store + tree) for INVITE -> 302;
#             "homesip" with server.loops 1, "homesip2" the same with server.loops 2 (1 -> 2 cores),
#             "homesip-eager" one loop with server.udp_coalesce_us 0: every datagram read as it
#             comes, where the default reads them once per 4 ms window when they come faster
#             (the CPU that coalescing saves and the latency it costs, in the same run);
#             "homesip-prev" one loop with the defaults before 2026-12-01 (server.udp_coalesce_us
#             1000, location-sqlite commit_window_us 32000 and commit_batch 64): what the present
#             defaults (4000, 64000, 256) change, in the same run
#   Kamailio  bench/kamailio/registrar.cfg / redirect.cfg, `-x tlsf -X tlsf`, BENCH_CHILDREN=2
#             (the cores of this machine), usrloc in memory
#   part 1  server CPU per request (utime + stime of all its processes / requests), evenly spaced
#           arrivals at 2000/s and 8000/s for FAIR_CPU_S s: new REGISTER (fresh users), refresh
#           REGISTER (the same users again: same Call-ID, CSeq + 1, same Contact), INVITE -> 302 + ACK
#           (to registered users); plus refresh at 8000/s in bursts of 32 (SIPp's pattern), for contrast.
#           Each is run FAIR_CPU_REPEAT times (3; the servers alternate in every round) and the table
#           gives the median with the lowest and highest: the same command varies by ±15 % from run to
#           run on this VM, more than the gaps one run would have to settle.
#   The generator sends from FAIR_SOCKETS (8) source ports, so a server spreading by source port
#   (homesipd's loops, SO_REUSEPORT) sees several senders.
#   part 2  the highest sustained rate of each kind: evenly spaced steps (FAIR_RATES) of FAIR_STEP_S s,
#           the generator's loop turning every FAIR_TICK_US (100) µs (--tick-us; see below);
#           a step passes with every request answered as expected, 0 retransmissions and >= 95 % of the
#           rate achieved. At the first failed step the report says which side was the limit, from
#           the CPU while the load was sent (a sample at REQUESTS / RATE s): the generator (when it
#           fell behind its schedule), the server, the machine's cores (server, generator and the
#           server's other threads, e.g. the SQLite writer, together >= 90 % of every core), or
#           drops with CPU to spare.
# Every figure is also given as a fraction of the bare responder's (its rate / ours; its CPU per
# request / the server's). "Other CPU" = the machine's busy time minus server and generator: other
# people's work meanwhile, which disturbs the figures when it is more than a few %.
# --quick: two low steps and 1 s runs, about a minute, report printed only (unless --doc).
# The report goes into FILE (default docs/benchmarks.md) between <!-- fair:begin --> and
# <!-- fair:end -->. Binaries: HOMESIPD, HOMESIP_PLUGINS, LOADGEN (copied to the work directory).
# Every load is bounded in requests and time; only processes started here are stopped, by PID.
set -euo pipefail

BENCH=$(dirname "$(readlink -f "$0")")
ROOT=$(dirname "$BENCH")
HOMESIPD=${HOMESIPD:-$ROOT/build/bin/homesipd}
PLUGINS=${HOMESIP_PLUGINS:-$ROOT/build/lib/homesip/plugins}
LOADGEN=${LOADGEN:-$(dirname "$HOMESIPD")/homesip-loadgen}
HS_REGISTRAR=$BENCH/homesip/family-bench.yaml
HS_REDIRECT=$BENCH/homesip/redirect-bench.yaml
KAM_REGISTRAR=$BENCH/kamailio/registrar.cfg
KAM_REDIRECT=$BENCH/kamailio/redirect.cfg
DOMAIN=home.local

QUICK=0 KEEP=0 SERVERS="homesip homesip-eager homesip-prev homesip2 kamailio" DOC=$ROOT/docs/benchmarks.md DOC_SET=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --keep) KEEP=1 ;;
    --servers) SERVERS=${2//,/ }; shift ;;
    --doc) DOC=$2; DOC_SET=1; shift ;;
    --no-doc) DOC=; DOC_SET=1 ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/!p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/fair.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
[ $QUICK = 1 ] && [ $DOC_SET = 0 ] && DOC=

if [ $QUICK = 1 ]; then
  FAIR_CPU_RATES=${FAIR_CPU_RATES:-"2000 8000"} FAIR_CPU_S=${FAIR_CPU_S:-1} FAIR_CPU_REPEAT=${FAIR_CPU_REPEAT:-1}
  FAIR_RATES=${FAIR_RATES:-"10000 20000"} FAIR_STEP_S=${FAIR_STEP_S:-1}
  INV_USERS=${INV_USERS:-5000} SETTLE=${SETTLE:-0.3}
else
  FAIR_CPU_RATES=${FAIR_CPU_RATES:-"2000 8000"} FAIR_CPU_S=${FAIR_CPU_S:-5} FAIR_CPU_REPEAT=${FAIR_CPU_REPEAT:-3}
  FAIR_RATES=${FAIR_RATES:-"10000 20000 30000 40000 50000 60000 70000 80000 90000 100000 120000 140000 160000"}
  FAIR_STEP_S=${FAIR_STEP_S:-2}
  INV_USERS=${INV_USERS:-50000} SETTLE=${SETTLE:-1}
fi
PRELOAD_RATE=${PRELOAD_RATE:-10000}
# The generator's tick in the rate steps (part 2): the requests due in 100 µs leave together and
# the responses are read together, instead of a sleep and a wake-up of the generator per request,
# which took it 12.0-12.2 µs a request at 60 000/s against the bare responder (10.5 reading only
# the sockets found readable, 6.5 with the tick too):
# CPU the two servers' threads had to share with it on this machine's 2 cores. Part 1 (CPU per
# request at 2000 and 8000/s) sends each request at its own instant.
FAIR_TICK_US=${FAIR_TICK_US:-100}
FAIR_SOCKETS=${FAIR_SOCKETS:-8}
TICK=$(getconf CLK_TCK)
NCPU=$(nproc)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { echo "bench/fair.sh: $*" >&2; exit 1; }

for s in $SERVERS; do
  case $s in
    homesip|homesip2|homesip-eager|homesip-prev) [ -x "$HOMESIPD" ] && [ -f "$PLUGINS/location-sqlite.so" ] && [ -f "$PLUGINS/tree.so" ] ||
               die "no $HOMESIPD with location-sqlite, registrar and tree in $PLUGINS (./homesip build)" ;;
    kamailio) command -v kamailio >/dev/null || die "kamailio not installed" ;;
    *) die "unknown server $s (homesip, homesip-eager, homesip-prev, homesip2, kamailio)" ;;
  esac
done
[ -x "$LOADGEN" ] || die "no $LOADGEN (cmake --build build --target homesip-loadgen)"
SERVERS="$SERVERS responder"   # the ceiling, measured beside them

WORK=$(mktemp -d /tmp/homesip-fair-XXXXXX)
mkdir -p "$WORK/bin" "$WORK/plugins"
cp "$LOADGEN" "$WORK/bin/homesip-loadgen"; LOADGEN=$WORK/bin/homesip-loadgen
case " $SERVERS " in *" homesip"*) cp "$HOMESIPD" "$WORK/bin/homesipd"; cp "$PLUGINS"/*.so "$WORK/plugins/" ;; esac
# kind server rate requests ok failed timed_out retrans achieved p50_us p99_us srv_cpu% loadgen_cpu%
# other_cpu% srv_us/req loadgen_us/req pattern srv_cpu%_while_sending machine_busy%_while_sending
# loadgen_send_seconds
RES=$WORK/results.tsv
: >"$RES"
declare -A PID=() PORT=() KIDS=() LG_PORT=() START_CMD=()

# shellcheck source=bench/common.sh
source "$BENCH/common.sh"

probe() {  # server -> 0 when one plain REGISTER gets its 200
  timeout 5 "$LOADGEN" register --no-auth --server "127.0.0.1:${PORT[$1]}" --domain "$DOMAIN" --prefix probe \
    --users 1 --requests 1 --rate 10 --timeout-ms 1000 --max-seconds 2 >/dev/null 2>&1
}

start_server() {  # name role(registrar|redirect) tag
  local s=$1 role=$2 tag=$3 port dir
  port=$(free_port); PORT[$s]=$port
  LG_PORT[$s]=$(free_port)
  [ "${LG_PORT[$s]}" != "$port" ] || LG_PORT[$s]=$(free_port)
  dir=$WORK/$s-$tag; mkdir -p "$dir"
  local cmd
  case $s in
    homesip|homesip2|homesip-eager|homesip-prev)
      local cfg=$HS_REGISTRAR domains=(--set "plugins.registrar.domains=[$DOMAIN]") loops=1 variant=()
      [ "$s" = homesip2 ] && loops=2
      [ "$s" = homesip-eager ] && variant=(--set "server.udp_coalesce_us=0")
      [ "$s" = homesip-prev ] && variant=(--set "server.udp_coalesce_us=1000"
        --set "plugins.location-sqlite.commit_window_us=32000" --set "plugins.location-sqlite.commit_batch=64")
      # The tree gives the registrar its domain (home.local): setting it as well is a config error.
      [ "$role" = redirect ] && cfg=$HS_REDIRECT domains=()
      cmd=("$WORK/bin/homesipd" --config "$cfg" --set "server.listen=[udp:127.0.0.1:$port]"
           --set "server.plugin_dirs=[$WORK/plugins]" --set "server.udp_buffer_bytes=4194304" --set "server.loops=$loops" "${variant[@]}"
           --set "plugins.location-sqlite.path=$dir/location.sqlite" "${domains[@]}"
           --set "log.level=warn" --set "log.sink=stderr") ;;
    kamailio)
      local cfg=$KAM_REGISTRAR; [ "$role" = redirect ] && cfg=$KAM_REDIRECT
      mkdir -p "$dir/run"
      cmd=(kamailio -f "$cfg" -x tlsf -X tlsf -DD -E -m 2048 -M 16 -Y "$dir/run" -A BENCH_CHILDREN="$NCPU"
           -A "BENCH_LISTEN=udp:127.0.0.1:$port" -A "BENCH_CTL=\"unix:$dir/run/ctl\"" -P "$dir/run/kamailio.pid") ;;
    responder)
      cmd=("$LOADGEN" responder --listen "127.0.0.1:$port" --max-seconds 3600) ;;
  esac
  START_CMD[$s-$role]="${cmd[*]//$WORK/\$WORK}"
  START_CMD[$s-$role]="${START_CMD[$s-$role]//$ROOT\//}"
  "${cmd[@]}" >"$dir/server.log" 2>&1 &
  PID[$s]=$!
  for _ in $(seq 50); do
    kill -0 "${PID[$s]}" 2>/dev/null || { tail -20 "$dir/server.log" >&2; die "$s exited at start"; }
    probe "$s" && break
    sleep 0.2
  done
  probe "$s" || { tail -20 "$dir/server.log" >&2; die "$s does not answer on udp 127.0.0.1:$port"; }
  [ "$s" = kamailio ] && KIDS[$s]=$(ps -o pid= --ppid "${PID[$s]}" | tr '\n' ' ')
  say "$s started ($role): pid ${PID[$s]}, udp 127.0.0.1:$port"
}

# measure KIND SERVER RATE REQUESTS COMMAND [loadgen options...] -> a row in $RES; echoes
# pass / fail / slow. The loadgen sends from the server's fixed local port (LG_PORT): the same
# Contact in every run, so that a refresh refreshes.
measure() {
  local kind=$1 s=$2 rate=$3 n=$4 command=$5; shift 5
  local d=$WORK/runs/$kind-$s-$rate; mkdir -p "$d"
  kill -0 "${PID[$s]}" 2>/dev/null || die "$s is not running"
  local limit=$(( n / rate + 10 )) c0 c1 b0 b1 t0 t1 rc=0
  # The machine's busy time and the clock are read next to each other (and the server's ticks
  # outside them): what lies between two samples is counted over the interval they span.
  c0=$(cpu_ticks "$s"); b0=$(busy_ticks); t0=$(date +%s.%N)
  # One more sample when the sending should end (REQUESTS / RATE s): the CPU while the load
  # lasted. The figures over the whole run are diluted by a failed step's tail, where
  # retransmissions trickle in with the machine nearly idle.
  local send_s; send_s=$(awk -v n="$n" -v r="$rate" 'BEGIN { printf "%.3f", n / r }')
  ( sleep "$send_s"; b=$(busy_ticks); t=$(date +%s.%N); echo "$t $(cpu_ticks "$s") $b" >"$d/at-send-end" ) &
  local sampler=$!
  local cmd=("$LOADGEN" "$command" --server "127.0.0.1:${PORT[$s]}" --local-port "${LG_PORT[$s]}" --domain "$DOMAIN"
             --sockets "$FAIR_SOCKETS" "$@" --requests "$n" --rate "$rate" --max-seconds "$limit" --tsv)
  printf '%s\t%s\n' "$kind" "${cmd[*]//$WORK\/bin\//}" >>"$WORK/commands.tsv"   # steps run in $(...)
  timeout -k 2 $(( limit + 10 )) "${cmd[@]}" >"$d/loadgen.tsv" 2>"$d/loadgen.err" || rc=$?
  t1=$(date +%s.%N); b1=$(busy_ticks); c1=$(cpu_ticks "$s")
  wait "$sampler" 2>/dev/null || true
  local ts cs bs send_srv=0 send_busy=0
  if read -r ts cs bs <"$d/at-send-end" 2>/dev/null; then
    send_srv=$(awk -v c=$(( cs - c0 )) -v t="$TICK" -v a="$t0" -v b="$ts" 'BEGIN { printf "%.0f", 100 * c / t / (b - a) }')
    send_busy=$(awk -v c=$(( bs - b0 )) -v t="$TICK" -v a="$t0" -v b="$ts" 'BEGIN { printf "%.0f", 100 * c / t / (b - a) }')
  fi
  local requests=0 ok=0 failed=0 timed_out=$n retrans=0 again=0 ach=0 p50=- p99=- max=- lg_us=0 elapsed=0 sent=0
  [ -s "$d/loadgen.tsv" ] &&
    IFS=$'\t' read -r requests ok failed timed_out retrans again ach p50 p99 max lg_us elapsed sent <"$d/loadgen.tsv"
  local wall srv_pct lg_pct other srv_us
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  srv_pct=$(awk -v c=$(( c1 - c0 )) -v t="$TICK" -v w="$wall" 'BEGIN { printf "%.0f", 100 * c / t / w }')
  lg_pct=$(awk -v u="$lg_us" -v n="$requests" -v w="$wall" 'BEGIN { printf "%.0f", u * n / 1e4 / w }')
  other=$(awk -v b=$(( b1 - b0 )) -v t="$TICK" -v w="$wall" -v a="$srv_pct" -v c="$lg_pct" \
    'BEGIN { o = 100 * b / t / w - a - c; printf "%.0f", o < 0 ? 0 : o }')
  srv_us=$(awk -v c=$(( c1 - c0 )) -v t="$TICK" -v n="$n" 'BEGIN { printf "%.1f", 1e6 * c / t / n }')
  local pattern=even; case " $* " in *" --pattern burst "*) pattern="bursts of 32" ;; esac
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$s" "$rate" "$n" "$ok" \
    "$failed" "$timed_out" "$retrans" "$ach" "$p50" "$p99" "$srv_pct" "$lg_pct" "$other" "$srv_us" "$lg_us" \
    "$pattern" "$send_srv" "$send_busy" "$sent" >>"$RES"
  local verdict=pass
  if [ "$rc" != 0 ] || [ "$ok" != "$n" ] || [ "$retrans" != 0 ]; then verdict=fail
  elif [ "${ach%.*}" -lt $(( rate * 95 / 100 )) ]; then verdict=slow; fi
  printf '    %-14s %-9s %6s/s %-7s ok %-7s failed %-5s timeout %-5s retrans %-5s achieved %6s/s p50/p99 %s/%s us cpu srv %s%% loadgen %s%% other %s%% %s us/req -> %s\n' \
    "$kind" "$s" "$rate" "$n" "$ok" "$failed" "$timed_out" "$retrans" "$ach" "$p50" "$p99" "$srv_pct" "$lg_pct" \
    "$other" "$srv_us" "$verdict" >&2
  sleep "$SETTLE"   # let the server settle (e.g. the store's writer) before the next run
  echo "$verdict"
}

# Which side stopped a server at its first failed step, from that step's row.
# CPU shares are those while the load was sent (the row's columns 18-19), not over the whole
# run: after a failed step's sending, retransmissions trickle in with the machine idle. The
# generator counts only when it fell behind its schedule (generator_fell_behind, bench/common.sh).
limit_of() {  # row
  local s retr spct lpct other ach rate lg_us send_srv send_busy lg_send n ok p99 sent
  IFS=$'\t' read -r _ s rate n ok _ _ retr ach _ p99 spct lpct other _ lg_us _ send_srv send_busy sent <<<"$1"
  local one_core=90   # the server's CPU limit: one core per loop or worker
  [ "$s" = kamailio ] && one_core=$(( 90 * NCPU )); [ "$s" = homesip2 ] && one_core=180
  lg_send=$(awk -v u="$lg_us" -v r="$rate" 'BEGIN { printf "%.0f", u * r / 1e4 }')   # its µs/request at the rate
  if [ "$ok" = "$n" ] && [ "$retr" = 0 ]; then   # every answer, but late: the step was slow, not lost
    echo "slow: every request answered without retransmission, $ach/s achieved (p99 $p99 µs): the answers came, but late"
  elif generator_fell_behind "$retr" "$n" "$rate" "$sent"; then
    echo "the generator: it sent over ${sent} s what was due over $(awk -v n="$n" -v r="$rate" 'BEGIN { printf "%.2f", n / r }') s"
  elif [ "$send_srv" -ge "$one_core" ]; then echo "server CPU ($send_srv % of one core while sending)"
  elif [ "$send_busy" -ge $(( 90 * NCPU )) ]; then
    echo "the machine's cores: $send_busy % of $(( 100 * NCPU )) % busy while sending (the server $send_srv %, the generator's thread about $lg_send %), $retr retransmissions"
  elif [ "$other" -ge 50 ]; then
    echo "undetermined: other work used $other % of a core meanwhile (server $spct %, generator $lpct %, $retr retransmissions)"
  else echo "drops: $retr retransmissions, $ach/s achieved with the server at $send_srv % and the machine at $send_busy % while sending"; fi
}

START=$(date +%s) LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
say "work directory $WORK; servers: $SERVERS; $( [ $QUICK = 1 ] && echo quick || echo full ) run"
declare -A BEST=() BEST_ACH=() ALIVE=() LIMIT=()
max_rate=0; for r in $FAIR_RATES; do [ "$r" -gt $max_rate ] && max_rate=$r; done

# steps KIND -- a function that runs one step: KIND_step SERVER RATE REQUESTS STEP_NUMBER
steps() {
  local kind=$1 step_fn=$2 rate s v k=0
  for s in $SERVERS; do BEST[$kind-$s]=0; BEST_ACH[$kind-$s]=0; ALIVE[$s]=1; LIMIT[$kind-$s]="not reached (every step passed)"; done
  for rate in $FAIR_RATES; do
    k=$(( k + 1 ))
    for s in $SERVERS; do
      [ "${ALIVE[$s]}" = 1 ] || continue
      v=$($step_fn "$s" "$rate" $(( rate * FAIR_STEP_S )) $k)
      if [ "$v" = pass ]; then BEST[$kind-$s]=$rate; BEST_ACH[$kind-$s]=$(tail -1 "$RES" | cut -f9)
      else ALIVE[$s]=0; LIMIT[$kind-$s]="at $rate/s: $(limit_of "$(tail -1 "$RES")")"; fi
    done
  done
}

# --- REGISTER: registrar configs ------------------------------------------------------------
say "REGISTER: CPU per request at $FAIR_CPU_RATES/s evenly spaced ($FAIR_CPU_S s), then rate steps $FAIR_RATES ($FAIR_STEP_S s)"
for s in $SERVERS; do start_server "$s" registrar reg; done
cpu_burst=${FAIR_CPU_RATES##* }
for round in $(seq "$FAIR_CPU_REPEAT"); do
  for rate in $FAIR_CPU_RATES; do   # fresh users n<rate>-<round>-*: new bindings
    for s in $SERVERS; do
      measure cpu-new "$s" "$rate" $(( rate * FAIR_CPU_S )) register --no-auth --call-id per-user \
        --prefix "n$rate-$round-" --users $(( rate * FAIR_CPU_S )) >/dev/null
    done
  done
  # Round 1's users again, CSeq 2 × round (then 2 × round + 1 in bursts): refreshes.
  for rate in $FAIR_CPU_RATES; do
    for s in $SERVERS; do
      measure cpu-refresh "$s" "$rate" $(( rate * FAIR_CPU_S )) register --no-auth --call-id per-user \
        --cseq $(( 2 * round )) --prefix "n$rate-1-" --users $(( rate * FAIR_CPU_S )) >/dev/null
    done
  done
  for s in $SERVERS; do   # SIPp's arrival pattern at the same rate: the writer commits a burst at once
    measure cpu-refresh "$s" "$cpu_burst" $(( cpu_burst * FAIR_CPU_S )) register --no-auth \
      --call-id per-user --cseq $(( 2 * round + 1 )) --prefix "n$cpu_burst-1-" --users $(( cpu_burst * FAIR_CPU_S )) \
      --pattern burst --burst 32 >/dev/null
  done
done

new_step() {  # fresh users for every step: s<k>-*
  measure new "$1" "$2" "$3" register --no-auth --prefix "s$4-" --users "$3" --tick-us "$FAIR_TICK_US"
}
steps new new_step

# Refresh steps: a pool of users registered first; step k refreshes them with CSeq 100k + round.
POOL=$(( max_rate * FAIR_STEP_S )); [ $POOL -le 50000 ] || POOL=50000   # a larger step refreshes it more than once
say "refresh: preloading $POOL users at $PRELOAD_RATE/s"
for s in $SERVERS; do
  measure preload "$s" "$PRELOAD_RATE" "$POOL" register --no-auth --call-id per-user --prefix r \
    --users "$POOL" >/dev/null
done
refresh_step() {
  measure refresh "$1" "$2" "$3" register --no-auth --call-id per-user --cseq $(( 100 * $4 )) \
    --prefix r --users "$POOL" --tick-us "$FAIR_TICK_US"
}
steps refresh refresh_step
for s in $SERVERS; do stop_server "$s"; done

# --- INVITE -> 302: redirect configs ---------------------------------------------------------
say "INVITE->302: $INV_USERS registered users; CPU at $FAIR_CPU_RATES/s, then rate steps"
for s in $SERVERS; do start_server "$s" redirect inv; done
for s in $SERVERS; do
  measure preload-invite "$s" "$PRELOAD_RATE" "$INV_USERS" register --no-auth --prefix i \
    --users "$INV_USERS" >/dev/null
done
# The responder answers INVITEs 200: that is its "expected" final.
expect_of() { [ "$1" = responder ] && echo 200 || echo 302; }
for round in $(seq "$FAIR_CPU_REPEAT"); do
  for rate in $FAIR_CPU_RATES; do
    for s in $SERVERS; do
      measure cpu-invite302 "$s" "$rate" $(( rate * FAIR_CPU_S )) invite --prefix i --users "$INV_USERS" \
        --expect "$(expect_of "$s")" >/dev/null
    done
  done
done
invite_step() {
  measure invite302 "$1" "$2" "$3" invite --prefix i --users "$INV_USERS" --expect "$(expect_of "$1")" \
    --tick-us "$FAIR_TICK_US"
}
steps invite302 invite_step
for s in $SERVERS; do stop_server "$s"; done
ELAPSED=$(( $(date +%s) - START ))

# --- Report ----------------------------------------------------------------------------------
name() { case $1 in homesip) echo homesipd ;; homesip2) echo "homesipd, 2 loops" ;; homesip-eager) echo "homesipd, no coalescing" ;; homesip-prev) echo "homesipd, defaults before 2026-12-01" ;; kamailio) echo "Kamailio (tlsf, $NCPU workers)" ;; *) echo "bare responder" ;; esac; }
rows_of() { awk -F'\t' -v k="$1" -v s="$2" -v r="$3" -v p="${4:-even}" '$1 == k && $2 == s && $3 == r && $17 == p' "$RES"; }
# The run with the median CPU per request of the rounds (the lower middle one of an even count).
median_row_of() {
  local rows count
  rows=$(rows_of "$@" | sort -t$'\t' -k15,15g); count=$(printf '%s' "$rows" | grep -c . || true)
  if [ "$count" -gt 0 ]; then printf '%s\n' "$rows" | sed -n "$(( (count + 1) / 2 ))p"; fi
}
spread_of() {  # "lowest–highest" of the rounds' CPU per request, or nothing for one round
  rows_of "$@" | awk -F'\t' 'NR == 1 || $15 < lo { lo = $15 } NR == 1 || $15 > hi { hi = $15 } END { if (NR > 1) printf "%s–%s", lo, hi }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.0f %%", 100 * a / b; else printf "-" }'; }
hs_rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -n "$(git -C "$ROOT" status --porcelain -- core plugins sdk bench/loadgen 2>/dev/null)" ] && hs_rev="$hs_rev+uncommitted changes"
# The binaries say more than HEAD when they were built at another time: their build times.
case " $SERVERS " in
  *" homesip"*) hs_rev="$hs_rev; homesipd built $(date -u -r "$HOMESIPD" '+%Y-%m-%d %H:%M UTC') ($HOMESIPD)" ;;
esac
max_other=$(awk -F'\t' '$4 >= $3 && $14 > m { m = $14 } END { print m + 0 }' "$RES")   # runs of 1 s or more: ticks are coarse

REPORT=$WORK/fair.md
{
  echo "### Fair bench: our load generator, tuned Kamailio, the bare-responder ceiling"
  echo
  echo "Generated by \`bench/fair.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'), $( [ $QUICK = 1 ] && echo '**quick smoke run (not a benchmark)**' || echo 'full run'), ${ELAPSED} s; homesip $hs_rev; $(kamailio -v 2>/dev/null | head -1 | sed 's/^version: //; s/ *$//'); $NCPU CPUs ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'))."
  if [ "$max_other" -ge 10 ]; then
    echo "**Disturbed:** other work on the machine used up to $max_other % of a core during a measurement (column *other CPU*; load average $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end); re-run on a quiet machine before quoting these figures."
  fi
  echo
  echo "Load: \`homesip-loadgen\` (bench/loadgen: one thread, $FAIR_SOCKETS UDP sockets (source ports) used in turn, sendmmsg/recvmmsg, RFC 3261 timer E/A retransmissions), plain REGISTER without authentication and INVITE→302 + ACK, evenly spaced arrivals (request i at i/rate) unless a row says bursts; in the rate steps the generator's loop turns every $FAIR_TICK_US µs (\`--tick-us\`: the requests due in a tick leave together at its end, answers are read once per turn), in the CPU runs it sends each request at its own instant. New REGISTER: fresh users, a Call-ID each; refresh: the same users again with their Call-ID, CSeq + 1 and the same Contact (the generator keeps one local port per server); INVITE: to $INV_USERS users registered first. Server CPU = utime + stime of all the server's processes (Kamailio: main and workers) over the run / requests. Servers alternate for every measurement."
  echo
  echo "Started as (\`\$WORK\` a temporary directory, ports free ones on 127.0.0.1):"
  echo
  for k in "${!START_CMD[@]}"; do echo "- $k: \`${START_CMD[$k]}\`"; done | sort
  echo
  echo "The generator, as first run for each kind of measurement, i.e. against homesipd (the same against the others but ports, and \`--expect 200\` for the responder's INVITEs):"
  echo
  awk -F'\t' '!($1 in c) { c[$1] = $2 } END { for (k in c) printf "- %s: `%s`\n", k, c[k] }' "$WORK/commands.tsv" | sort
  echo
  echo "**CPU per request**, µs: the median of $FAIR_CPU_REPEAT rounds (servers alternating in each), with the rounds' lowest–highest, the median run's server CPU % of one core, and the bare responder's median µs as a fraction of the server's:"
  echo
  printf '| request, arrivals | %s |\n' "$(for s in $SERVERS; do name "$s"; done | paste -sd'|' | sed 's/|/ | /g')"
  printf '|---|%s\n' "$(for s in $SERVERS; do printf -- '---|'; done)"
  cpu_line() {  # kind rate pattern label
    local s us spct ok n retr cells=() bare
    bare=$(median_row_of "$1" responder "$2" "$3" | cut -f15)
    for s in $SERVERS; do
      us=
      IFS=$'\t' read -r _ _ _ n ok _ _ retr _ _ _ spct _ _ us _ <<<"$(median_row_of "$1" "$s" "$2" "$3")"
      if [ -z "${us:-}" ]; then cells+=("-"); continue; fi
      local spread; spread=$(spread_of "$1" "$s" "$2" "$3")
      local note="$spct %"; [ -n "$spread" ] && note="$spread; $note"
      [ "$ok" = "$n" ] || note="$note, only $ok of $n ok"
      [ "${retr:-0}" = 0 ] || note="$note, $retr retransmissions"
      [ "$s" = responder ] && cells+=("$us ($note)") || cells+=("**$us** ($note; responder = $(ratio "$bare" "$us"))")
    done
    printf '| %s |' "$4"; printf ' %s |' "${cells[@]}"; echo
  }
  for r in $FAIR_CPU_RATES; do cpu_line cpu-new "$r" even "new REGISTER, $r/s even"; done
  for r in $FAIR_CPU_RATES; do cpu_line cpu-refresh "$r" even "refresh REGISTER, $r/s even"; done
  cpu_line cpu-refresh "$cpu_burst" "bursts of 32" "refresh REGISTER, $cpu_burst/s in bursts of 32 (SIPp's pattern)"
  for r in $FAIR_CPU_RATES; do cpu_line cpu-invite302 "$r" even "INVITE→302, $r/s even"; done
  echo
  echo "**Highest sustained rate**, evenly spaced steps of $FAIR_STEP_S s ($FAIR_RATES/s): every request answered, 0 retransmissions, ≥ 95 % of the rate achieved; the limit is read at the first failed step."
  echo
  echo "| request | server | sustained/s (achieved) | share of the responder's | limit |"
  echo "|---|---|---|---|---|"
  for kind in new refresh invite302; do
    for s in $SERVERS; do
      local_best=${BEST[$kind-$s]}; bare=${BEST[$kind-responder]}
      cell="**$local_best** (${BEST_ACH[$kind-$s]})"; [ "$local_best" = 0 ] && cell="< ${FAIR_RATES%% *}"
      [ "$local_best" = "$max_rate" ] && cell="≥ $cell"
      share=$(ratio "$local_best" "$bare"); [ "$s" = responder ] && share="(the ceiling)"
      echo "| $kind | $(name "$s") | $cell | $share | ${LIMIT[$kind-$s]} |"
    done
  done
  if [ -n "${BEST[new-homesip2]:-}" ] && [ -n "${BEST[new-homesip]:-}" ]; then
    echo
    echo "**From 1 to 2 loops** (homesipd, \`server.loops\` 1 and 2, highest sustained rates above): new REGISTER $(ratio "${BEST[new-homesip2]}" "${BEST[new-homesip]}"), refresh $(ratio "${BEST[refresh-homesip2]}" "${BEST[refresh-homesip]}"), INVITE→302 $(ratio "${BEST[invite302-homesip2]}" "${BEST[invite302-homesip]}") of the one-loop rate. This machine has $NCPU cores for the server *and* the generator, so two loops share them with the generator's thread: see the generator's CPU in the runs below."
  fi
  echo
  echo "<details><summary>Every run</summary>"
  echo
  echo "CPU columns are over the whole run (until the last answer or time-out); *while sending* is over the first REQUESTS / RATE seconds, when the load was on: a failed step's tail of retransmissions dilutes the former."
  echo
  echo "| run | server | rate/s | arrivals | requests | ok | failed | timed out | retrans | achieved/s | p50 / p99 µs | server CPU | generator CPU | other CPU | server µs/req | generator µs/req | server / machine CPU while sending |"
  echo "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  while IFS=$'\t' read -r k s rate n ok failed tout retr ach p50 p99 spct lpct other sus lus pattern send_srv send_busy _; do
    echo "| $k | $(name "$s") | $rate | $pattern | $n | $ok | $failed | $tout | $retr | $ach | $p50 / $p99 | $spct % | $lpct % | $other % | $sus | $lus | $send_srv % / $send_busy % |"
  done <"$RES"
  echo
  echo "</details>"
} >"$REPORT"

if [ -n "$DOC" ]; then
  write_between_markers "$DOC" fair "$REPORT"
  say "fair bench written to $DOC"
else
  KEEP=1
fi
cat "$REPORT"
