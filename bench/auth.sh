#!/usr/bin/env bash
# bench/auth.sh [--quick] [--servers homesip,kamailio] [--keep] [--report FILE]
#
# Authenticated REGISTER/s: homesipd (bench/homesip/family-auth-bench.yaml: location-sqlite with
# synchronous: full + auth-digest, MD5 + registrar) beside Kamailio 5.6
# (bench/kamailio/registrar-auth.cfg: auth_check() against auth_db's SQLite subscriber table,
# usrloc in memory, 2 workers, -x tlsf -X tlsf), each holding the same AUTH_USERS users with the
# same passwords, one per user (bench/loadgen `users`: put through homesipd's admin socket; SQL
# rows for Kamailio). The load is bench/loadgen `register` for both: REGISTER -> 401 -> REGISTER
# with Authorization (MD5, qop=auth) -> 200, evenly spaced, UDP on free 127.0.0.1 ports; servers
# alternate at every step of the same run.
#
#   preload  every user registered once at AUTH_PRELOAD_RATE/s; every later REGISTER replaces a
#            bound user's binding (new Call-ID, same Contact: the loadgen keeps one local port
#            per server), so each user has one binding throughout
#   steps    AUTH_RATES, AUTH_STEP_S seconds of REGISTERs each, users in turn; a step passes with
#            every REGISTER answered 200, no retransmission and >= 95 % of the rate achieved; the
#            sustained rate is the highest step passed (steps stop at the first failure)
#   cpu      AUTH_CPU_RATE/s for AUTH_CPU_S s: server CPU per authenticated REGISTER (both
#            transactions), the loadgen's beside it
# For each server the report says which side was the limit at its first failed step: the loadgen
# (it fell behind its schedule, its last REGISTER sent > 5 % late, with retransmissions for under
# 5 % of the requests), the server (the machine's cores >= 90 % busy, the server using
# most), or neither (drops and retransmissions with CPU to spare).
#
# AUTH_HOMESIP_LOOPS (default 2): homesipd's server.loops, one per core as Kamailio's 2 workers.
# AUTH_SOCKETS (default 8): the loadgen's UDP sockets (source ports), request i from socket i mod N,
# so that homesipd's loops (SO_REUSEPORT, spread by source) and Kamailio's workers (one socket,
# read by both) each see the load of several clients; the same for both servers.
# Binaries: HOMESIPD (default build/bin/homesipd), HOMESIP_PLUGINS (build/lib/homesip/plugins),
# LOADGEN (build/bin/homesip-loadgen), copied to the work directory at the start; HOMESIPCTL
# (beside HOMESIPD) reads how homesipd's loops shared the load, for the report.
# The report (markdown) is printed, and written to FILE with --report (bench/run.sh puts it into
# docs/benchmarks.md). Every load is bounded in requests and time (its own --max-seconds and an
# outer `timeout`); only processes started here are stopped, by PID, on exit.
set -euo pipefail
AUTH_HOMESIP_LOOPS=${AUTH_HOMESIP_LOOPS:-2}
AUTH_SOCKETS=${AUTH_SOCKETS:-8}
# The generator's tick in the steps, as bench/fair.sh's FAIR_TICK_US: the REGISTERs due in 100 µs
# leave together and answers are read once per turn, instead of a sleep and a wake-up per request
# (which cost both servers a share of the 2 cores, Kamailio more: its workers were woken once per
# datagram). The preload and the CPU run send each request at its own instant.
AUTH_TICK_US=${AUTH_TICK_US:-100}

BENCH=$(dirname "$(readlink -f "$0")")
ROOT=$(dirname "$BENCH")
HOMESIPD=${HOMESIPD:-$ROOT/build/bin/homesipd}
PLUGINS=${HOMESIP_PLUGINS:-$ROOT/build/lib/homesip/plugins}
LOADGEN=${LOADGEN:-$ROOT/build/bin/homesip-loadgen}
HOMESIPCTL=${HOMESIPCTL:-$(dirname "$HOMESIPD")/homesipctl}
HS_CONFIG=$BENCH/homesip/family-auth-bench.yaml
KAMCFG=$BENCH/kamailio/registrar-auth.cfg
KAM_SQL=/usr/share/kamailio/db_sqlite
DOMAIN=home.local SEED=homesip-bench PREFIX=a

QUICK=0 KEEP=0 SERVERS="homesip kamailio" REPORT_FILE=
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --keep) KEEP=1 ;;
    --servers) SERVERS=${2//,/ }; shift ;;
    --report) REPORT_FILE=$2; shift ;;
    -h|--help) sed -n '2,34p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/auth.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

if [ $QUICK = 1 ]; then
  AUTH_USERS=${AUTH_USERS:-2000}
  AUTH_RATES=${AUTH_RATES:-"500 1000"}
  AUTH_STEP_S=${AUTH_STEP_S:-2}
  AUTH_CPU_RATE=${AUTH_CPU_RATE:-500} AUTH_CPU_S=${AUTH_CPU_S:-2}
  AUTH_PRELOAD_RATE=${AUTH_PRELOAD_RATE:-1000}
else
  AUTH_USERS=${AUTH_USERS:-100000}
  AUTH_RATES=${AUTH_RATES:-"1000 2000 4000 8000 12000 16000 20000 25000 30000 35000 40000"}
  AUTH_STEP_S=${AUTH_STEP_S:-5}
  AUTH_CPU_RATE=${AUTH_CPU_RATE:-2000} AUTH_CPU_S=${AUTH_CPU_S:-10}
  AUTH_PRELOAD_RATE=${AUTH_PRELOAD_RATE:-2000}
fi
SETTLE=${SETTLE:-1}
TICK=$(getconf CLK_TCK)
NCPU=$(nproc)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { echo "bench/auth.sh: $*" >&2; exit 1; }

for s in $SERVERS; do
  case $s in
    homesip)
      [ -x "$HOMESIPD" ] || die "no $HOMESIPD (run ./homesip build)"
      for p in location-sqlite auth-digest registrar; do
        [ -f "$PLUGINS/$p.so" ] || die "no $PLUGINS/$p.so"
      done ;;
    kamailio)
      command -v kamailio >/dev/null || die "kamailio not installed"
      command -v sqlite3 >/dev/null || die "sqlite3 not installed"
      [ -f "$KAM_SQL/auth_db-create.sql" ] || die "no $KAM_SQL/auth_db-create.sql (package kamailio-sqlite-modules)" ;;
    *) die "unknown server $s (homesip, kamailio)" ;;
  esac
done
[ -x "$LOADGEN" ] || die "no $LOADGEN (cmake --build build --target homesip-loadgen)"

WORK=$(mktemp -d /tmp/homesip-auth-bench-XXXXXX)
mkdir -p "$WORK/bin" "$WORK/plugins"
cp "$LOADGEN" "$WORK/bin/homesip-loadgen"
LOADGEN=$WORK/bin/homesip-loadgen
case " $SERVERS " in
  *" homesip "*) cp "$HOMESIPD" "$WORK/bin/homesipd"; cp "$PLUGINS"/*.so "$WORK/plugins/" ;;
esac
# kind server rate requests ok failed timed_out retrans achieved p50_us p99_us srv_cpu% loadgen_cpu%
# machine_busy% srv_us/req loadgen_us/req wall_s
RES=$WORK/results.tsv
: >"$RES"
declare -A PID=() PORT=() KIDS=()
# server -> the loadgen's local port for every run against it: the same Contact each time, so a
# step re-registers the users' bindings instead of adding one per user and step.
declare -A LG_PORT=()

# shellcheck source=bench/common.sh
source "$(dirname "$(readlink -f "$0")")/common.sh"

users_opts=(--domain "$DOMAIN" --prefix "$PREFIX" --first 1 --users "$AUTH_USERS" --seed "$SEED")

cpu_times() {  # -> "busy total" ticks of all CPUs from /proc/stat (busy: user nice system irq softirq steal)
  awk '$1 == "cpu" { b = $2 + $3 + $4 + $7 + $8 + $9; print b, b + $5 + $6; exit }' /proc/stat
}

# Whether a server answers: one authenticated REGISTER of user 1.
probe() {  # name
  timeout 10 "$LOADGEN" register --server "127.0.0.1:${PORT[$1]}" --local-port "${LG_PORT[$1]}" \
    --domain "$DOMAIN" --prefix "$PREFIX" --first 1 --users 1 --seed "$SEED" \
    --requests 1 --rate 10 --timeout-ms 1000 --max-seconds 3 >/dev/null 2>&1
}

start_server() {  # name tag
  local s=$1 tag=$2 port dir
  port=$(free_port); PORT[$s]=$port
  LG_PORT[$s]=$(free_port)
  [ "${LG_PORT[$s]}" != "$port" ] || LG_PORT[$s]=$(free_port)
  dir=$WORK/$s-$tag; mkdir -p "$dir"
  case $s in
    homesip)
      "$WORK/bin/homesipd" --config "$HS_CONFIG" \
        --set "server.listen=[udp:127.0.0.1:$port]" \
        --set "server.plugin_dirs=[$WORK/plugins]" \
        --set "server.admin_socket=$dir/admin.sock" \
        --set "plugins.location-sqlite.path=$dir/location.sqlite" \
        --set "plugins.auth-digest.secret_file=$dir/nonce.secret" \
        --set "server.loops=$AUTH_HOMESIP_LOOPS" \
        --set "log.level=warn" --set "log.sink=stderr" >"$dir/homesipd.log" 2>&1 &
      PID[$s]=$!
      for _ in $(seq 50); do [ -S "$dir/admin.sock" ] && break; sleep 0.2; done
      [ -S "$dir/admin.sock" ] || { tail -20 "$dir/homesipd.log" >&2; die "homesipd has no admin socket"; }
      say "homesip: putting $AUTH_USERS users through the admin socket"
      timeout 900 "$LOADGEN" users --admin-socket "$dir/admin.sock" "${users_opts[@]}" ;;
    kamailio)
      rm -f "$dir/subscriber.sqlite"
      sqlite3 "$dir/subscriber.sqlite" <"$KAM_SQL/standard-create.sql"
      sqlite3 "$dir/subscriber.sqlite" <"$KAM_SQL/auth_db-create.sql"
      "$LOADGEN" users --kamailio-sql "${users_opts[@]}" | sqlite3 "$dir/subscriber.sqlite"
      mkdir -p "$dir/run"
      kamailio -f "$KAMCFG" -x tlsf -X tlsf -DD -E -m 2048 -M 16 -Y "$dir/run" \
        -A BENCH_CHILDREN=2 -A "BENCH_LISTEN=udp:127.0.0.1:$port" \
        -A "BENCH_AUTH_DB_URL=\"sqlite://$dir/subscriber.sqlite\"" \
        -A "BENCH_CTL=\"unix:$dir/run/ctl\"" -P "$dir/run/kamailio.pid" >"$dir/kamailio.log" 2>&1 &
      PID[$s]=$! ;;
  esac
  for _ in $(seq 50); do
    kill -0 "${PID[$s]}" 2>/dev/null || { tail -20 "$dir"/*.log >&2; die "$s exited at start"; }
    probe "$s" && break
    sleep 0.2
  done
  probe "$s" || { tail -20 "$dir"/*.log >&2; die "$s does not authenticate user 1 on udp 127.0.0.1:$port"; }
  [ "$s" = kamailio ] && KIDS[$s]=$(ps -o pid= --ppid "${PID[$s]}" | tr '\n' ' ')
  say "$s started: pid ${PID[$s]}, udp 127.0.0.1:$port"
}

# measure KIND SERVER RATE REQUESTS -> a row in $RES; echoes pass / fail / slow
measure() {
  local kind=$1 s=$2 rate=$3 n=$4 d=$WORK/runs/$1-$2-$3
  mkdir -p "$d"
  kill -0 "${PID[$s]}" 2>/dev/null || die "$s is not running"
  local limit=$(( n / rate + 15 )) c0 c1 b0 b1 t0 t1 rc=0
  local tick=(); [ "$kind" = step ] && tick=(--tick-us "$AUTH_TICK_US")
  c0=$(cpu_ticks "$s"); b0=$(cpu_times); t0=$(date +%s.%N)   # the clock next to the machine's times
  timeout -k 2 $(( limit + 10 )) "$LOADGEN" register --server "127.0.0.1:${PORT[$s]}" --local-port "${LG_PORT[$s]}" \
    --sockets "$AUTH_SOCKETS" "${users_opts[@]}" "${tick[@]}" \
    --requests "$n" --rate "$rate" --max-seconds "$limit" --tsv >"$d/loadgen.tsv" 2>"$d/loadgen.err" || rc=$?
  t1=$(date +%s.%N); b1=$(cpu_times); c1=$(cpu_ticks "$s")
  local requests=0 ok=0 failed=0 timed_out=$n retrans=0 again=0 ach=0 p50=- p99=- max=- lg_us=0 elapsed=0 sent=0
  [ -s "$d/loadgen.tsv" ] &&
    IFS=$'\t' read -r requests ok failed timed_out retrans again ach p50 p99 max lg_us elapsed sent <"$d/loadgen.tsv"
  local wall srv_pct lg_pct busy_pct srv_us
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  srv_pct=$(awk -v c=$(( c1 - c0 )) -v t="$TICK" -v w="$wall" 'BEGIN { printf "%.0f", 100 * c / t / w }')
  lg_pct=$(awk -v u="$lg_us" -v n="$requests" -v w="$wall" 'BEGIN { printf "%.0f", u * n / 1e4 / w }')
  busy_pct=$(awk -v a="$b0" -v b="$b1" 'BEGIN { split(a, x, " "); split(b, y, " "); t = y[2] - x[2];
    printf "%.0f", (t > 0 ? 100 * (y[1] - x[1]) / t : 0) }')
  srv_us=$(awk -v c=$(( c1 - c0 )) -v t="$TICK" -v n="$n" 'BEGIN { printf "%.0f", 1e6 * c / t / n }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$s" "$rate" "$n" "$ok" \
    "$failed" "$timed_out" "$retrans" "$ach" "$p50" "$p99" "$srv_pct" "$lg_pct" "$busy_pct" "$srv_us" "$lg_us" \
    "$wall" "$sent" >>"$RES"
  local verdict=pass
  if [ "$rc" != 0 ] || [ "$ok" != "$n" ] || [ "$retrans" != 0 ]; then verdict=fail
  elif [ "${ach%.*}" -lt $(( rate * 95 / 100 )) ]; then verdict=slow; fi
  printf '    %-8s %-8s %6s/s  %-7s ok %-7s failed %-5s timeout %-5s retrans %-6s achieved %6s/s  p50/p99 %s/%s us  cpu srv %s%% loadgen %s%% machine %s%%  %s us/req (loadgen %s)  -> %s\n' \
    "$kind" "$s" "$rate" "$n" "$ok" "$failed" "$timed_out" "$retrans" "$ach" "$p50" "$p99" "$srv_pct" "$lg_pct" \
    "$busy_pct" "$srv_us" "$lg_us" "$verdict" >&2
  sleep "$SETTLE"
  echo "$verdict"
}

START=$(date +%s)
say "work directory $WORK; servers: $SERVERS; $AUTH_USERS users; $( [ $QUICK = 1 ] && echo quick || echo full ) run"
for s in $SERVERS; do start_server "$s" run; done

say "preload: every user registered once at $AUTH_PRELOAD_RATE/s"
for s in $SERVERS; do measure preload "$s" "$AUTH_PRELOAD_RATE" "$AUTH_USERS" >/dev/null; done

say "steps: $AUTH_RATES authenticated REGISTER/s, $AUTH_STEP_S s each, servers alternating"
declare -A BEST=() BEST_ACH=() ALIVE=() LIMIT=()
for s in $SERVERS; do BEST[$s]=0; BEST_ACH[$s]=0; ALIVE[$s]=1; done
for rate in $AUTH_RATES; do
  for s in $SERVERS; do
    [ "${ALIVE[$s]}" = 1 ] || continue
    v=$(measure step "$s" "$rate" $(( rate * AUTH_STEP_S )))
    if [ "$v" = pass ]; then
      BEST[$s]=$rate; BEST_ACH[$s]=$(tail -1 "$RES" | cut -f9)
    else
      ALIVE[$s]=0
      IFS=$'\t' read -r _ _ _ n _ _ _ retr _ _ _ spct lpct bpct _ _ _ sent <<<"$(tail -1 "$RES")"
      if generator_fell_behind "$retr" "$n" "$rate" "$sent"; then
        LIMIT[$s]="the loadgen: at $rate/s it sent over ${sent} s what was due over $(( n / rate )) s"
      elif [ "$bpct" -ge 90 ] && [ "$spct" -ge "$lpct" ]; then
        LIMIT[$s]="the server: at $rate/s the machine's $NCPU cores were $bpct % busy, $s using $spct % of one core, the loadgen $lpct %"
      elif [ "$bpct" -ge 90 ]; then
        LIMIT[$s]="the loadgen's share of the cores: at $rate/s the machine was $bpct % busy, the loadgen using $lpct %, $s $spct %"
      else
        LIMIT[$s]="neither CPU-bound at $rate/s (machine $bpct % busy, $s $spct %, loadgen $lpct %): $retr retransmissions"
      fi
    fi
  done
done
for s in $SERVERS; do [ "${ALIVE[$s]}" = 1 ] && LIMIT[$s]="not reached (every step passed)"; done

say "CPU: $AUTH_CPU_RATE/s for $AUTH_CPU_S s"
for s in $SERVERS; do measure cpu "$s" "$AUTH_CPU_RATE" $(( AUTH_CPU_RATE * AUTH_CPU_S )) >/dev/null; done
# How homesipd's loops shared the loadgen's source ports (their messages over the whole run): the
# spread decides how close to a loop's limit the busiest loop runs.
LOOP_SHARE=
case " $SERVERS " in
  *" homesip "*)
    LOOP_SHARE=$("$HOMESIPCTL" --socket "$WORK/homesip-run/admin.sock" stats 2>/dev/null |
      awk '/^loops:/ { on = 1; next } on && $1 == "LAG_MS" { next } on && $1 ~ /^[0-9]+$/ { printf "%s%s", sep, $2; sep = " / "; next } { on = 0 }') ;;
esac
for s in $SERVERS; do stop_server "$s"; done
ELAPSED=$(( $(date +%s) - START ))

name() { case $1 in homesip) echo homesipd ;; *) echo Kamailio ;; esac; }
row_of() { awk -F'\t' -v k="$1" -v s="$2" '$1 == k && $2 == s' "$RES" | tail -1; }
max_rate=0; for r in $AUTH_RATES; do [ "$r" -gt $max_rate ] && max_rate=$r; done
REPORT=$WORK/auth-report.md
{
  echo "### Authenticated REGISTER (bench/auth.sh)"
  echo
  echo "Run: $(date -u '+%Y-%m-%d %H:%M UTC'), $( [ $QUICK = 1 ] && echo '**quick smoke run (not a benchmark)**' || echo 'full run'), ${ELAPSED} s; $NCPU CPUs."
  echo "Load: \`homesip-loadgen register\` (bench/loadgen), REGISTER → 401 → REGISTER with MD5 credentials (qop=auth) → 200, $AUTH_USERS users each with its own password, registered once beforehand at $AUTH_PRELOAD_RATE/s; $AUTH_SOCKETS UDP sockets (source ports), request i from socket i mod $AUTH_SOCKETS; steps of $AUTH_STEP_S s (the generator's loop turning every $AUTH_TICK_US µs, \`--tick-us\`), servers alternating; CPU run at $AUTH_CPU_RATE/s for $AUTH_CPU_S s."
  echo "homesipd: \`family-auth-bench.yaml\` (auth-digest, users and bindings in location-sqlite, synchronous: full), \`server.loops: $AUTH_HOMESIP_LOOPS\`. Kamailio: \`registrar-auth.cfg\` (auth_db on SQLite, usrloc in memory, 2 workers, tlsf)."
  echo
  printf '| | %s |\n' "$(for s in $SERVERS; do name "$s"; done | paste -sd'|' | sed 's/|/ | /g')"
  printf '|---|%s\n' "$(for s in $SERVERS; do printf -- '---|'; done)"
  printf '| authenticated REGISTER/s sustained |'
  for s in $SERVERS; do
    if [ "${BEST[$s]}" = 0 ]; then printf ' < %s (first step failed) |' "${AUTH_RATES%% *}"
    else printf ' %s**%s** (achieved %s) |' "$( [ "${BEST[$s]}" = $max_rate ] && echo '≥ ' || true)" "${BEST[$s]}" "${BEST_ACH[$s]}"; fi
  done; echo
  printf '| server CPU per authenticated REGISTER at %s/s |' "$AUTH_CPU_RATE"
  for s in $SERVERS; do
    IFS=$'\t' read -r _ _ _ n ok failed tout retr _ p50 p99 spct lpct _ sus lus _ <<<"$(row_of cpu "$s")"
    printf ' **%s µs** (server CPU %s %%; %s of %s ok, %s retrans; loadgen %s µs) |' "$sus" "$spct" "$ok" "$n" "$retr" "$lus"
  done; echo
  printf '| latency p50 / p99 at %s/s |' "$AUTH_CPU_RATE"
  for s in $SERVERS; do
    IFS=$'\t' read -r _ _ _ _ _ _ _ _ _ p50 p99 _ <<<"$(row_of cpu "$s")"
    printf ' %s / %s µs |' "$p50" "$p99"
  done; echo
  printf '| the limit |'; for s in $SERVERS; do printf ' %s |' "${LIMIT[$s]}"; done; echo
  echo
  [ -n "$LOOP_SHARE" ] && echo "homesipd's messages per loop over the whole run (its loops share the loadgen's $AUTH_SOCKETS source ports by a hash of address and port): $LOOP_SHARE." && echo
  echo "| run | server | target/s | REGISTERs | 200 | failed | timed out | retrans | achieved/s | p50 / p99 µs | server CPU | loadgen CPU | machine busy | server µs/REGISTER | loadgen µs/REGISTER |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  while IFS=$'\t' read -r k s rate n ok failed tout retr ach p50 p99 spct lpct bpct sus lus wall _; do
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s %% | %s %% | %s %% | %s | %s |\n' \
      "$k" "$(name "$s")" "$rate" "$n" "$ok" "$failed" "$tout" "$retr" "$ach" "$p50" "$p99" "$spct" "$lpct" "$bpct" \
      "$sus" "$lus"
  done <"$RES"
} >"$REPORT"
[ -n "$REPORT_FILE" ] && cp "$REPORT" "$REPORT_FILE"
cat "$REPORT"
