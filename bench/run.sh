#!/usr/bin/env bash
# bench/run.sh [--quick] [--servers homesip,kamailio,homesip-ldap,homesip-base] [--no-auth] [--no-fair] [--keep] [--doc FILE | --no-doc]
#
# Server homesip-base: another build of homesipd (HOMESIPD_BASE, plugins in HOMESIP_PLUGINS_BASE;
# `./homesip bench --base REV` builds commit REV into build-base/ and sets both) under the same
# load as homesip in the same run, alternating: a change is measured against the commit before it.
# homesipd (bench/homesip/family-bench.yaml: location-sqlite + registrar, bindings durable in SQLite,
# synchronous=full) beside Kamailio 5.6 (bench/kamailio/registrar.cfg: usrloc in memory, 2 UDP
# workers) under the same SIPp load, alternating server by server for every measurement, UDP on
# free 127.0.0.1 ports only.
#
#   phase A  new-binding REGISTER/s: fixed rate steps, rate*STEP_S calls each, fresh users per step;
#            the sustained rate is the highest step with every call answered 200, 0 failed calls,
#            0 retransmissions and SIPp reaching >= 95 % of the target rate.
#   phase B  fresh servers; idle memory; preload PRELOAD bindings; memory again; idle RTT (µs,
#            rtt_probe.py); refresh REGISTER/s steps on the preloaded users (same Call-ID, higher
#            CSeq); server CPU per request at CPU_RATE/s for CPU_S seconds (refresh, then new).
#   phase C  INVITE->302: fresh servers as redirect servers (homesipd bench/homesip/redirect-bench.yaml:
#            family server local@home = child domain home.local, location-sqlite + redirect +
#            registrar; Kamailio bench/kamailio/redirect.cfg: lookup("location") + 302): the 302 of
#            a family (the user's contacts); preload
#            INV_USERS users with reg.xml, then invite302.xml rate steps (same pass criteria as
#            phase A) and server CPU per INVITE->302 at CPU_RATE/s.
#   phase D  homesipd only (Kamailio has no redirect tree): the management tree C1/D1/H1 from
#            bench/homesip/tree-{province,community,family}.yaml (the examples without authentication or TLS) on free ports; once H1 is registered
#            (via C1 -> 302 -> D1), TREE_N users register one at a time through the top
#            (REGISTER C1 -> 302 -> D1 -> 302 -> H1 -> 200, rtt_probe.py --redirect): p50 / p99 µs.
#            Then INVITE->302 at the province, in the same tree: once one INVITE for u1@C1.D1.H1
#            to C1 is seen answered 302 with D1's address (rtt_probe.py --invite), invite302-aor.xml
#            sends C1 INVITEs for uN@C1.D1.H1 (N = 1..INV_USERS, wrapping; users below D1, none
#            registered: C1 looks up D1@C1's binding and answers 302 to D1) in the INV_RATES steps
#            (same pass criteria as phase A), then server CPU (C1's) per INVITE->302 at CPU_RATE/s.
#   phase E  server homesip-ldap: homesipd with location-ldap (bench/homesip/family-ldap-bench.yaml)
#            on a slapd started here (cn=config from slapadd -n0 with our schema, mdb, base o=homesip,
#            free port, stopped by PID): new-binding steps LDAP_NEW_RATES (same pass criteria as
#            phase A); fresh slapd + homesipd, preload LDAP_PRELOAD users, refresh steps
#            LDAP_REFRESH_RATES, CPU per request at LDAP_CPU_RATE/s (homesipd's and slapd's apart).
#   phase F  authenticated REGISTER (bench/auth.sh, servers homesip and kamailio of --servers):
#            homesipd with auth-digest beside Kamailio registrar-auth.cfg, the same users each with
#            its own password, load from bench/loadgen (homesip-loadgen beside homesipd); --no-auth skips it.
#   phase G  the fair bench (bench/fair.sh, servers homesip (1 and 2 loops) and kamailio of --servers): our own load
#            generator, evenly spaced CPU per request at 2000/s and 8000/s, the highest sustained
#            rates, beside the bare responder's ceiling; its own section of the doc (fair markers).
#            --no-fair skips it.
#
# Results: a markdown report (printed, and written into docs/benchmarks.md between the
# "generated" markers unless --quick or --no-doc). --quick: a couple of low steps, about a minute, for
# development; its report goes to the work directory only.
# Every SIPp run is bounded in calls and time (its own -timeout plus an outer `timeout`); only
# processes started here are stopped, by PID, on exit.
set -euo pipefail

BENCH=$(dirname "$(readlink -f "$0")")
ROOT=$(dirname "$BENCH")
HOMESIPD=${HOMESIPD:-$ROOT/build/bin/homesipd}
HS_CONFIG=${HS_CONFIG:-$BENCH/homesip/family-bench.yaml}
PLUGINS=${HOMESIP_PLUGINS:-$ROOT/build/lib/homesip/plugins}
SCEN=$BENCH/scenarios
KAMCFG=$BENCH/kamailio/registrar.cfg
KAMREDIR=$BENCH/kamailio/redirect.cfg
HS_REDIRECT_CONFIG=${HS_REDIRECT_CONFIG:-$BENCH/homesip/redirect-bench.yaml}

HS_LDAP_CONFIG=${HS_LDAP_CONFIG:-$BENCH/homesip/family-ldap-bench.yaml}
LDAP_SCHEMA=$ROOT/plugins/location-ldap/schema/homesip.ldif
SLAPD=${SLAPD:-/usr/sbin/slapd} SLAPADD=${SLAPADD:-/usr/sbin/slapadd}
LDAP_BASE=o=homesip LDAP_ADMIN=cn=admin,o=homesip LDAP_PW=bench-secret

QUICK=0 KEEP=0 SERVERS="homesip kamailio homesip-ldap" DOC=$ROOT/docs/benchmarks.md DOC_SET=0 AUTH=1 FAIR=1
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --keep) KEEP=1 ;;
    --no-auth) AUTH=0 ;;
    --servers) SERVERS=${2//,/ }; shift ;;
    --doc) DOC=$2; DOC_SET=1; shift ;;
    --no-doc) DOC=; DOC_SET=1 ;;
    --no-fair) FAIR=0 ;;
    -h|--help) sed -n '2,50p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

if [ $QUICK = 1 ]; then
  NEW_RATES=${NEW_RATES:-"1000 2000"}
  REFRESH_RATES=${REFRESH_RATES:-"1000 2000"}
  STEP_S=${STEP_S:-1}
  CPU_RATE=${CPU_RATE:-2000} CPU_S=${CPU_S:-2}
  RTT_N=${RTT_N:-300}
  INV_RATES=${INV_RATES:-"1000 2000"}
  INV_USERS=${INV_USERS:-5000}
  TREE_N=${TREE_N:-300}
  SETTLE=${SETTLE:-0.3}
  LDAP_NEW_RATES=${LDAP_NEW_RATES:-"500"}
  LDAP_REFRESH_RATES=${LDAP_REFRESH_RATES:-"500"}
  LDAP_PRELOAD=${LDAP_PRELOAD:-1000}
  LDAP_CPU_RATE=${LDAP_CPU_RATE:-500}
else
  NEW_RATES=${NEW_RATES:-"2000 5000 10000 15000 20000 25000 30000 35000 40000 45000 50000"}
  REFRESH_RATES=${REFRESH_RATES:-"2000 5000 10000 15000 20000 25000 30000 35000 40000 45000 50000"}
  STEP_S=${STEP_S:-5}
  CPU_RATE=${CPU_RATE:-8000} CPU_S=${CPU_S:-5}
  RTT_N=${RTT_N:-2000}
  INV_RATES=${INV_RATES:-"2000 5000 10000 15000 20000 25000 30000 35000 40000 45000 50000 55000 60000"}
  INV_USERS=${INV_USERS:-100000}
  TREE_N=${TREE_N:-2000}
  SETTLE=${SETTLE:-1}
  LDAP_NEW_RATES=${LDAP_NEW_RATES:-"500 1000 1250 1500 2000 3000 5000 8000"}
  LDAP_REFRESH_RATES=${LDAP_REFRESH_RATES:-"500 1000 1250 1500 2000 3000 4000"}
  LDAP_CPU_RATE=${LDAP_CPU_RATE:-1000}
fi
max_refresh=0; for r in $REFRESH_RATES; do [ "$r" -gt $max_refresh ] && max_refresh=$r; done
# Preload enough users for the largest refresh step and the CPU refresh run (at least 100k).
PRELOAD=${PRELOAD:-$(( max_refresh * STEP_S > 100000 ? max_refresh * STEP_S : 100000 ))}
max_new=0; for r in $NEW_RATES; do [ "$r" -gt $max_new ] && max_new=$r; done
max_inv=0; for r in $INV_RATES; do [ "$r" -gt $max_inv ] && max_inv=$r; done
[ $QUICK = 1 ] && PRELOAD=${PRELOAD_QUICK:-$(( max_refresh * STEP_S > CPU_RATE * CPU_S ? max_refresh * STEP_S : CPU_RATE * CPU_S ))}
[ $PRELOAD -lt $(( CPU_RATE * CPU_S )) ] && PRELOAD=$(( CPU_RATE * CPU_S ))
max_ldap_new=0; for r in $LDAP_NEW_RATES; do [ "$r" -gt $max_ldap_new ] && max_ldap_new=$r; done
# LDAP preload: a modest 20k users (more if the CPU run needs them); refresh steps of more calls
# than preloaded users are left out (each refresh call must hit a preloaded user, no wrap-around).
LDAP_PRELOAD=${LDAP_PRELOAD:-20000}
[ $LDAP_PRELOAD -lt $(( LDAP_CPU_RATE * CPU_S )) ] && LDAP_PRELOAD=$(( LDAP_CPU_RATE * CPU_S ))
r_ok=""; for r in $LDAP_REFRESH_RATES; do [ $(( r * STEP_S )) -le $LDAP_PRELOAD ] && r_ok="$r_ok $r"; done
LDAP_REFRESH_RATES=${r_ok# }
max_ldap_ref=0; for r in $LDAP_REFRESH_RATES; do [ "$r" -gt $max_ldap_ref ] && max_ldap_ref=$r; done
BUFF=4194304
TICK=$(getconf CLK_TCK)
[ $QUICK = 1 ] && [ $DOC_SET = 0 ] && DOC=

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { echo "bench/run.sh: $*" >&2; exit 1; }

LDAP=0 main=""
for s in $SERVERS; do
  case $s in
    homesip-ldap)
      LDAP=1
      [ -x "$HOMESIPD" ] || die "no $HOMESIPD (run ./homesip build)"
      [ -f "$PLUGINS/location-ldap.so" ] || die "no $PLUGINS/location-ldap.so (use --servers homesip,kamailio meanwhile)"
      for t in "$SLAPD" "$SLAPADD" ldapsearch; do command -v "$t" >/dev/null || die "$t not installed (packages slapd ldap-utils)"; done ;;
    homesip)
      [ -x "$HOMESIPD" ] || die "no $HOMESIPD (run ./homesip build)"
      [ -f "$PLUGINS/location-sqlite.so" ] || die "no $PLUGINS/location-sqlite.so (use --servers kamailio meanwhile)" ;;
    homesip-base)
      [ -x "${HOMESIPD_BASE:-}" ] || die "homesip-base needs HOMESIPD_BASE (a homesipd binary) and HOMESIP_PLUGINS_BASE"
      [ -f "${HOMESIP_PLUGINS_BASE:-}/location-sqlite.so" ] || die "no location-sqlite.so in HOMESIP_PLUGINS_BASE" ;;
    kamailio) command -v kamailio >/dev/null || die "kamailio not installed" ;;
    *) die "unknown server $s" ;;
  esac
  [ $s = homesip-ldap ] || main="$main $s"
done
ALL_SERVERS=$SERVERS
SERVERS=${main# }   # phases A-D; homesip-ldap has its own phase E
command -v sipp >/dev/null || die "sipp not installed"

WORK=$(mktemp -d /tmp/homesip-bench-XXXXXX)
# Snapshot homesipd and its plugins: a rebuild during the run must not swap them under us.
HS_BIN=$WORK/bin/homesipd HS_PLUGINS=$WORK/plugins
case " $ALL_SERVERS " in
  *" homesip "*|*" homesip-ldap "*) mkdir -p "$WORK/bin" "$HS_PLUGINS"; cp -p "$HOMESIPD" "$HS_BIN"; cp "$PLUGINS"/*.so "$HS_PLUGINS/"
    cp "$(dirname "$HOMESIPD")/homesipctl" "$WORK/bin/" 2>/dev/null || true ;;
esac
HS_BASE_BIN=$WORK/base/bin/homesipd HS_BASE_PLUGINS=$WORK/base/plugins
case " $ALL_SERVERS " in
  *" homesip-base "*) mkdir -p "$WORK/base/bin" "$HS_BASE_PLUGINS"; cp "$HOMESIPD_BASE" "$HS_BASE_BIN"; cp "$HOMESIP_PLUGINS_BASE"/*.so "$HS_BASE_PLUGINS/" ;;
esac
# kind server target calls ok failed retrans achieved p50 p99 srv_cpu% sipp_cpu% us/req other_cpu%
# slapd_cpu% slapd_us/req (the last two: homesip-ldap only, else -)
RES=$WORK/results.tsv
: >"$RES"
declare -A PID=()         # server -> main PID (started here)
declare -A PORT=()
# server -> SIPp's local port for every run against it. A refresh must come from
# the address the binding was made from: a Contact on another port is a second
# binding of the AOR (RFC 3261 10.3), not a refresh of the first.
declare -A SIPP_PORT=()
declare -A KIDS=()        # kamailio -> its child PIDs (forked by the PID we started)

# shellcheck source=bench/common.sh
source "$BENCH/common.sh"

users_csv() {  # file prefix first count
  sh "$BENCH/gen-users.sh" "$2" "$3" "$4" >"$1"
}

mem_kib() {  # name -> "rss_kib" (homesip: VmRSS; kamailio: sum of Pss over its processes)
  local s=$1 p t=0 v
  if [ "$s" = homesip ] || [ "$s" = homesip-base ]; then
    awk '/^VmRSS:/ {print $2}' /proc/${PID[$s]}/status
  else
    for p in $(server_pids "$s"); do
      v=$(awk '/^Pss:/ {print $2}' /proc/$p/smaps_rollup 2>/dev/null) || v=0
      t=$(( t + ${v:-0} ))
    done
    echo $t
  fi
}

kam_shm_used_kib() {
  kamcmd -s "unix:$WORK/kamailio/ctl" core.shmmem 2>/dev/null | awk '/real_used:/ {printf "%d\n", $2/1024}'
}

probe() {  # port -> 0 when a REGISTER gets its 200
  local d=$WORK/probe; mkdir -p "$d"
  printf 'SEQUENTIAL\nprobe;\n' >"$d/u.csv"
  (cd "$d" && timeout 5 sipp "127.0.0.1:$1" -sf "$SCEN/reg.xml" -inf u.csv -m 1 -i 127.0.0.1 -p "$(free_port)" \
     -nostdin -timeout 1s -timeout_error -recv_timeout 500 >/dev/null 2>&1)
}

start_server() {  # name tag [registrar|redirect]
  local s=$1 tag=$2 role=${3:-registrar} port dir hscfg=$HS_CONFIG kamcfg=$KAMCFG
  [ "$role" = redirect ] && hscfg=$HS_REDIRECT_CONFIG kamcfg=$KAMREDIR
  port=$(free_port); PORT[$s]=$port
  [ -n "${SIPP_PORT[$s]:-}" ] || SIPP_PORT[$s]=$(free_port)
  [ "${SIPP_PORT[$s]}" != "$port" ] || SIPP_PORT[$s]=$(free_port)
  dir=$WORK/$s-$tag; mkdir -p "$dir"
  local bin=$HS_BIN plugins=$HS_PLUGINS
  [ "$s" = homesip-base ] && bin=$HS_BASE_BIN plugins=$HS_BASE_PLUGINS
  # The plain registrar is told its domain; with the tree plugin (redirect role) the registrar's
  # domain is the tree's child domain (home.local) and setting it as well is a config error.
  local domains=(--set "plugins.registrar.domains=[home.local]")
  [ "$role" = redirect ] && domains=()
  case $s in
    homesip|homesip-base)
      "$bin" --config "$hscfg" \
        --set "server.listen=[udp:127.0.0.1:$port]" \
        --set "server.plugin_dirs=[$plugins]" \
        --set "server.udp_buffer_bytes=$BUFF" \
        --set "plugins.location-sqlite.path=$dir/location.sqlite" \
        "${domains[@]}" \
        --set "plugins.registrar.min_expires=10" \
        --set "log.level=warn" --set "log.sink=stderr" >"$dir/homesipd.log" 2>&1 &
      PID[$s]=$! ;;
    homesip-ldap)
      "$HS_BIN" --config "$HS_LDAP_CONFIG" \
        --set "server.listen=[udp:127.0.0.1:$port]" \
        --set "server.plugin_dirs=[$HS_PLUGINS]" \
        --set "server.udp_buffer_bytes=$BUFF" \
        --set "plugins.location-ldap.uri=ldap://127.0.0.1:$LDAP_PORT" \
        --set "plugins.location-ldap.password_file=$WORK/ldap.secret" \
        --set "plugins.registrar.domains=[home.local]" \
        --set "plugins.registrar.min_expires=10" \
        --set "log.level=warn" --set "log.sink=stderr" >"$dir/homesipd.log" 2>&1 &
      PID[$s]=$! ;;
    kamailio)
      mkdir -p "$WORK/kamailio"; rm -f "$WORK/kamailio/ctl"
      kamailio -f "$kamcfg" -x tlsf -X tlsf -DD -E -m 2048 -M 16 -Y "$WORK/kamailio" \
        -A BENCH_CHILDREN=2 -A "BENCH_LISTEN=udp:127.0.0.1:$port" \
        -A "BENCH_CTL=\"unix:$WORK/kamailio/ctl\"" -P "$WORK/kamailio/kamailio.pid" >"$dir/kamailio.log" 2>&1 &
      PID[$s]=$! ;;
  esac
  for _ in $(seq 50); do
    kill -0 "${PID[$s]}" 2>/dev/null || { tail -20 "$dir"/*.log >&2; die "$s exited at start"; }
    probe "$port" && break
    sleep 0.2
  done
  probe "$port" || { tail -20 "$dir"/*.log >&2; die "$s does not answer on udp 127.0.0.1:$port"; }
  [ "$s" = kamailio ] && KIDS[$s]=$(ps -o pid= --ppid "${PID[$s]}" | tr '\n' ' ')
  say "$s started ($role): pid ${PID[$s]}, udp 127.0.0.1:$port"
}

LDAP_PORT=
start_slapd() {  # tag -> a fresh slapd (cn=config with our schema, mdb for o=homesip) on a free port
  local d=$WORK/slapd-$1
  mkdir -p "$d/slapd.d" "$d/data"
  LDAP_PORT=$(free_port)   # a free UDP port; checked free for TCP by slapd's bind below
  cat >"$d/config.ldif" <<EOF_LDIF
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: $d/slapd.pid

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif

include: file://$LDAP_SCHEMA

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcRootDN: $LDAP_ADMIN

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: $LDAP_BASE
olcRootDN: $LDAP_ADMIN
olcRootPW: $LDAP_PW
olcDbDirectory: $d/data
olcDbMaxSize: 4294967296
olcDbIndex: objectClass eq
olcDbIndex: homesipDomain eq
EOF_LDIF
  cat >"$d/base.ldif" <<EOF_LDIF
dn: $LDAP_BASE
objectClass: organization
o: homesip

dn: ou=bindings,$LDAP_BASE
objectClass: organizationalUnit
ou: bindings

dn: ou=users,$LDAP_BASE
objectClass: organizationalUnit
ou: users
EOF_LDIF
  "$SLAPADD" -n0 -F "$d/slapd.d" -l "$d/config.ldif" >"$d/slapadd.log" 2>&1 || { cat "$d/slapadd.log" >&2; die "slapadd -n0 failed"; }
  "$SLAPADD" -n1 -F "$d/slapd.d" -l "$d/base.ldif" >>"$d/slapadd.log" 2>&1 || { cat "$d/slapadd.log" >&2; die "slapadd -n1 failed"; }
  printf '%s\n' "$LDAP_PW" >"$WORK/ldap.secret"
  "$SLAPD" -d 0 -h "ldap://127.0.0.1:$LDAP_PORT/" -F "$d/slapd.d" >"$d/slapd.log" 2>&1 &
  PID[slapd]=$!
  for _ in $(seq 100); do
    kill -0 "${PID[slapd]}" 2>/dev/null || { tail -20 "$d/slapd.log" >&2; die "slapd exited at start"; }
    timeout 3 ldapsearch -x -H "ldap://127.0.0.1:$LDAP_PORT" -b "" -s base -o nettimeout=1 >/dev/null 2>&1 && break
    sleep 0.1
  done
  timeout 3 ldapsearch -x -H "ldap://127.0.0.1:$LDAP_PORT" -b "" -s base -o nettimeout=1 >/dev/null 2>&1 ||
    { tail -20 "$d/slapd.log" >&2; die "slapd does not answer on ldap://127.0.0.1:$LDAP_PORT"; }
  say "slapd started: pid ${PID[slapd]}, ldap://127.0.0.1:$LDAP_PORT, $d"
}

ldap_entries() {  # -> number of binding entries in the directory
  timeout 60 ldapsearch -x -LLL -H "ldap://127.0.0.1:$LDAP_PORT" -D "$LDAP_ADMIN" -w "$LDAP_PW" \
    -b "ou=bindings,$LDAP_BASE" '(objectClass=homesipLocation)' 1.1 2>/dev/null | grep -c '^dn:' || true
}

# measure KIND SERVER RATE CALLS CSV BASE_CSEQ [SCENARIO [CALL-ID FORMAT]]
#   -> appends a row to $RES, echoes "pass"/"fail"/"slow"
measure() {
  local kind=$1 s=$2 rate=$3 calls=$4 csv=$5 cseq=$6 scen=${7:-reg.xml} cid=${8:-reg-%u@bench}
  local d=$WORK/runs/$kind-$s-$rate; mkdir -p "$d"; rm -f "$d"/*
  local limit=$(( calls / rate + 10 )) t0 t1 c0 c1 sc0 sc1 rc=0
  kill -0 "${PID[$s]}" 2>/dev/null || die "$s is not running"
  # bash `times` must run in this very shell (not in $(...)) to see the waited-for SIPp's CPU.
  local b0 b1 l0=0 l1=0 lpid=
  [ "$s" = homesip-ldap ] && lpid=${PID[slapd]:-}
  b0=$(busy_ticks); [ -n "$lpid" ] && l0=$(pid_ticks "$lpid")
  c0=$(cpu_ticks "$s"); times >"$d/times0"; t0=$(date +%s.%N)
  (cd "$d" && exec timeout -k 2 $(( limit + 5 )) sipp "127.0.0.1:${PORT[$s]}" -sf "$SCEN/$scen" -inf "$csv" \
     -cid_str "$cid" -base_cseq "$cseq" -r "$rate" -m "$calls" -buff_size $BUFF \
     -i 127.0.0.1 -p "${SIPP_PORT[$s]}" -nostdin -timeout "${limit}s" -timeout_error \
     -trace_stat -stf stat.csv -fd 1 -trace_rtt -rtt_freq 1000 -trace_screen -screen_file screen.txt \
     >sipp.out 2>&1) || rc=$?
  t1=$(date +%s.%N); times >"$d/times1"; c1=$(cpu_ticks "$s"); b1=$(busy_ticks)
  [ -n "$lpid" ] && l1=$(pid_ticks "$lpid")
  sc0=$(children_cpu_s "$d/times0"); sc1=$(children_cpu_s "$d/times1")
  local row
  row=$(awk -F';' 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
         { last = $0 }
         END { n = split(last, v, ";");
               printf "%d %d %d %.0f\n", v[col["SuccessfulCall(C)"]], v[col["FailedCall(C)"]],
                      v[col["Retransmissions(C)"]], v[col["CallRate(C)"]] }' "$d/stat.csv" 2>/dev/null) || true
  [ -n "$row" ] || row="0 $calls 0 0"
  local ok failed retr achieved; read -r ok failed retr achieved <<<"$row"
  local pct; pct=$(cat "$d"/*_rtt.csv 2>/dev/null | awk -F';' 'NR > 1 && $3 == 1 {print $2}' | sort -n |
    awk '{ a[NR] = $1 } END { if (NR == 0) { print "- -"; exit }
          i50 = int(NR * 0.50); if (i50 < 1) i50 = 1; i99 = int(NR * 0.99); if (i99 < 1) i99 = 1;
          print a[i50], a[i99] }')
  local wall srv_pct sipp_pct us
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  srv_pct=$(awk -v c=$(( c1 - c0 )) -v t="$TICK" -v w="$wall" 'BEGIN { printf "%.0f", 100 * c / t / w }')
  sipp_pct=$(awk -v a="$sc0" -v b="$sc1" -v w="$wall" 'BEGIN { printf "%.0f", 100 * (b - a) / w }')
  us=$(awk -v c=$(( c1 - c0 )) -v t="$TICK" -v n="$calls" 'BEGIN { printf "%.0f", 1e6 * c / t / n }')
  local l_pct=- l_us=- l_n=0
  if [ -n "$lpid" ]; then   # the directory behind homesip-ldap: its CPU apart
    l_n=$(( l1 - l0 ))
    l_pct=$(awk -v c=$l_n -v t="$TICK" -v w="$wall" 'BEGIN { printf "%.0f", 100 * c / t / w }')
    l_us=$(awk -v c=$l_n -v t="$TICK" -v n="$calls" 'BEGIN { printf "%.0f", 1e6 * c / t / n }')
  fi
  # CPU used by everything else on the machine meanwhile (other people's builds...): a disturbed step
  local other; other=$(awk -v b=$(( b1 - b0 - l_n )) -v t="$TICK" -v w="$wall" -v a="$srv_pct" -v c="$sipp_pct" \
    'BEGIN { o = 100 * b / t / w - a - c; printf "%.0f", o < 0 ? 0 : o }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$s" "$rate" "$calls" "$ok" "$failed" \
    "$retr" "$achieved" ${pct} "$srv_pct" "$sipp_pct" "$us" "$other" "$l_pct" "$l_us" >>"$RES"
  local verdict=pass
  if [ "$rc" != 0 ] || [ "$ok" != "$calls" ] || [ "$failed" != 0 ] || [ "$retr" != 0 ]; then
    verdict=fail
  elif [ "$achieved" -lt $(( rate * 95 / 100 )) ]; then
    verdict=slow
  fi
  printf '    %-8s %-8s %6s/s  calls %-7s ok %-7s failed %-6s retrans %-6s achieved %6s/s  rtt p50/p99 %s ms  cpu srv %s%% sipp %s%% other %s%%  %s us/req%s  -> %s\n' \
    "$kind" "$s" "$rate" "$calls" "$ok" "$failed" "$retr" "$achieved" "${pct/ //}" "$srv_pct" "$sipp_pct" "$other" "$us" \
    "$( [ -n "$lpid" ] && echo " (slapd $l_pct% $l_us us/req)" || true)" "$verdict" >&2
  sleep "$SETTLE"   # let the server settle (e.g. the store's writer) before the next run
  echo "$verdict"
}

# ---------------------------------------------------------------------------------------------
say "work directory $WORK; servers: $ALL_SERVERS; $( [ $QUICK = 1 ] && echo quick || echo full ) run"
START=$(date +%s)

# Phase A: new bindings
say "phase A: new-binding REGISTER/s (rate steps: $NEW_RATES; $STEP_S s of calls each)"
for s in $SERVERS; do start_server "$s" a; done
declare -A ALIVE=() BEST_NEW=() BEST_NEW_ACH=() BEST_REF=() BEST_REF_ACH=()
for s in $SERVERS; do ALIVE[$s]=1; BEST_NEW[$s]=0; BEST_NEW_ACH[$s]=0; BEST_REF[$s]=0; BEST_REF_ACH[$s]=0; done
for rate in $NEW_RATES; do
  calls=$(( rate * STEP_S )) csv=$WORK/new-$rate.csv any=0
  users_csv "$csv" "n${rate}x" 1 "$calls"
  for s in $SERVERS; do
    [ "${ALIVE[$s]}" = 1 ] || continue
    any=1
    v=$(measure new "$s" "$rate" "$calls" "$csv" 1)
    if [ "$v" = pass ]; then BEST_NEW[$s]=$rate; BEST_NEW_ACH[$s]=$(tail -1 "$RES" | cut -f8); else ALIVE[$s]=0; fi
  done
  [ $any = 1 ] || break
done
for s in $SERVERS; do stop_server "$s"; done

# Phase B: fresh servers, memory, preload, idle RTT, refresh steps, CPU per request
say "phase B: preload $PRELOAD bindings, memory, idle RTT, refresh REGISTER/s, CPU per request"
for s in $SERVERS; do start_server "$s" b; done
declare -A MEM0=() MEM1=() SHM0=() SHM1=() RTT=() BINDINGS=()
sleep 1
for s in $SERVERS; do MEM0[$s]=$(mem_kib "$s"); [ "$s" = kamailio ] && SHM0[$s]=$(kam_shm_used_kib); done
# Preload at a rate both servers sustained (or the lowest step), so it runs clean for both.
prate=${PRELOAD_RATE:-}
if [ -z "$prate" ]; then
  prate=10000
  for s in $SERVERS; do [ "${BEST_NEW[$s]}" -gt 0 ] && [ "${BEST_NEW[$s]}" -lt $prate ] && prate=${BEST_NEW[$s]}; done
  for s in $SERVERS; do [ "${BEST_NEW[$s]}" = 0 ] && prate=${NEW_RATES%% *}; done
fi
POOL=$WORK/pool.csv
users_csv "$POOL" p 1 "$PRELOAD"
CSEQ=1
for s in $SERVERS; do measure preload "$s" "$prate" "$PRELOAD" "$POOL" $CSEQ >/dev/null; done
sleep 1
for s in $SERVERS; do
  MEM1[$s]=$(mem_kib "$s")
  if [ "$s" = kamailio ]; then
    SHM1[$s]=$(kam_shm_used_kib)
    BINDINGS[$s]=$(kamcmd -s "unix:$WORK/kamailio/ctl" stats.get_statistics usrloc: 2>/dev/null | awk -F'= ' '/location_contacts/ {print $2}')
  else
    BINDINGS[$s]=$(sqlite3 "$WORK/homesip-b/location.sqlite" 'SELECT count(*) FROM bindings' 2>/dev/null || echo '?')
  fi
done
for s in $SERVERS; do
  RTT[$s]=$(timeout 60 python3 "$BENCH/rtt_probe.py" 127.0.0.1 "${PORT[$s]}" "$RTT_N" || echo "- - 0")
  echo "    idle refresh RTT $s: p50 p99 ok = ${RTT[$s]} (us)" >&2
done

say "refresh REGISTER/s (rate steps: $REFRESH_RATES; $STEP_S s of calls each, preloaded users)"
for s in $SERVERS; do ALIVE[$s]=1; done
for rate in $REFRESH_RATES; do
  calls=$(( rate * STEP_S )) any=0
  CSEQ=$(( CSEQ + 10 ))
  for s in $SERVERS; do
    [ "${ALIVE[$s]}" = 1 ] || continue
    any=1
    v=$(measure refresh "$s" "$rate" "$calls" "$POOL" $CSEQ)
    if [ "$v" = pass ]; then BEST_REF[$s]=$rate; BEST_REF_ACH[$s]=$(tail -1 "$RES" | cut -f8); else ALIVE[$s]=0; fi
  done
  [ $any = 1 ] || break
done

say "server CPU per request at $CPU_RATE/s for $CPU_S s"
CSEQ=$(( CSEQ + 10 ))
for s in $SERVERS; do measure cpu-refresh "$s" "$CPU_RATE" $(( CPU_RATE * CPU_S )) "$POOL" $CSEQ >/dev/null; done
users_csv "$WORK/cpu-new.csv" c 1 $(( CPU_RATE * CPU_S ))
for s in $SERVERS; do measure cpu-new "$s" "$CPU_RATE" $(( CPU_RATE * CPU_S )) "$WORK/cpu-new.csv" 1 >/dev/null; done
for s in $SERVERS; do stop_server "$s"; done

# Phase C: INVITE -> 302 (redirect servers), fresh servers
say "phase C: INVITE→302 redirects/s (preload $INV_USERS users; rate steps: $INV_RATES; $STEP_S s of calls each)"
for s in $SERVERS; do start_server "$s" c redirect; done
declare -A BEST_INV=() BEST_INV_ACH=()
for s in $SERVERS; do ALIVE[$s]=1; BEST_INV[$s]=0; BEST_INV_ACH[$s]=0; done
INVPOOL=$WORK/inv-pool.csv
users_csv "$INVPOOL" i 1 "$INV_USERS"
for s in $SERVERS; do measure preload-inv "$s" "$prate" "$INV_USERS" "$INVPOOL" 1 >/dev/null; done
sleep 1
for rate in $INV_RATES; do
  calls=$(( rate * STEP_S )) any=0
  for s in $SERVERS; do
    [ "${ALIVE[$s]}" = 1 ] || continue
    any=1
    v=$(measure invite302 "$s" "$rate" "$calls" "$INVPOOL" 1 invite302.xml 'inv-%u-%p@bench')
    if [ "$v" = pass ]; then BEST_INV[$s]=$rate; BEST_INV_ACH[$s]=$(tail -1 "$RES" | cut -f8); else ALIVE[$s]=0; fi
  done
  [ $any = 1 ] || break
done
say "server CPU per INVITE→302 at $CPU_RATE/s for $CPU_S s"
for s in $SERVERS; do
  measure cpu-invite302 "$s" "$CPU_RATE" $(( CPU_RATE * CPU_S )) "$INVPOOL" 1 invite302.xml 'cpuinv-%u-%p@bench' >/dev/null
done
for s in $SERVERS; do stop_server "$s"; done

# Phase D: homesipd's management tree, three-hop redirect registration (no Kamailio equivalent)
TREE=""   # "p50 p99 ok hops mean max hop1 hop2 ..." from rtt_probe.py --redirect
start_tree_server() {  # name config --set ...
  local name=$1 config=$2 port; shift 2
  port=$(free_port); PORT[$name]=$port
  mkdir -p "$WORK/tree"
  "$HS_BIN" --config "$config" --set "server.plugin_dirs=[$HS_PLUGINS]" \
    --set "server.listen=[udp:127.0.0.1:$port]" \
    --set "plugins.location-sqlite.path=$WORK/tree/$name.sqlite" --set "server.admin_socket=$WORK/tree/$name.sock" \
    "$@" >"$WORK/tree/$name.log" 2>&1 &
  PID[$name]=$!
}
parent_of() {  # name -> the server that took its registration (homesipctl tree), "" before that
  "$WORK/bin/homesipctl" --socket "$WORK/tree/$1.sock" --json tree 2>/dev/null |
    sed -n 's/^  "parent": "\([^"]*\)".*/\1/p'
}
wait_parent() {  # name -> 0 once its tree plugin registered upward (10 s at most)
  for _ in $(seq 100); do
    [ -n "$(parent_of "$1")" ] && return 0
    kill -0 "${PID[$1]}" 2>/dev/null || break
    sleep 0.1
  done
  tail -20 "$WORK/tree/$1.log" >&2; return 1
}
wait_log() {  # name pattern -> 0 once the server's log has it (10 s at most)
  for _ in $(seq 100); do
    grep -q "$2" "$WORK/tree/$1.log" 2>/dev/null && return 0
    kill -0 "${PID[$1]}" 2>/dev/null || break
    sleep 0.1
  done
  tail -20 "$WORK/tree/$1.log" >&2; return 1
}
tree_phase() {  # starts the tree, fills TREE; returns 1 (after saying why) when the tree does not come up
  start_tree_server C1 "$BENCH/homesip/tree-province.yaml"
  wait_log C1 "serving" || { echo "    C1 did not start" >&2; return 1; }
  local top="sip:127.0.0.1:${PORT[C1]}"
  start_tree_server D1 "$BENCH/homesip/tree-community.yaml" --set "plugins.tree.top=$top"
  wait_parent D1 || { echo "    D1 did not register with C1" >&2; return 1; }
  start_tree_server H1 "$BENCH/homesip/tree-family.yaml" --set "plugins.tree.top=$top"
  wait_parent H1 || { echo "    H1 did not register (C1 -> 302 -> D1)" >&2; return 1; }
  echo "    C1 udp ${PORT[C1]}, D1 udp ${PORT[D1]}, H1 udp ${PORT[H1]}; H1's parent: $(parent_of H1)" >&2
  sleep "$SETTLE"
  TREE=$(timeout $(( TREE_N + 30 )) python3 "$BENCH/rtt_probe.py" --redirect 127.0.0.1 "${PORT[C1]}" "$TREE_N" C1.D1.H1 B) || true
  [ -n "$TREE" ] || TREE="- - 0 0 - -"
  TREE_BOUND=$(sqlite3 "$WORK/tree/H1.sqlite" "SELECT count(*) FROM bindings WHERE aor LIKE 'B%'" 2>/dev/null || echo '?')
  echo "    three-hop registration: p50 p99 ok hops mean max per-request-p50s = $TREE (us); H1 holds $TREE_BOUND of the users' bindings" >&2
}
# INVITE->302 at the province, in the tree of tree_phase: INVITEs for users below D1 sent to C1,
# which answers each with a 302 to D1 (its lookup of D1@C1's binding). Fills PROV_*.
PROV_BEST=0 PROV_BEST_ACH=0 PROV_CHECK="not run"
province_phase() {
  SIPP_PORT[C1]=$(free_port)
  [ "${SIPP_PORT[C1]}" != "${PORT[C1]}" ] || SIPP_PORT[C1]=$(free_port)
  local pool=$WORK/prov-pool.csv rate calls v
  sh "$BENCH/gen-users.sh" u 1 "$INV_USERS" SEQUENTIAL "@C1.D1.H1" >"$pool"
  # Where does C1 send a call for a user below D1? It must be D1 (else the steps measure a 404).
  PROV_CHECK=$(timeout 10 python3 "$BENCH/rtt_probe.py" --invite 127.0.0.1 "${PORT[C1]}" u1@C1.D1.H1 || true)
  echo "    INVITE u1@C1.D1.H1 to C1: ${PROV_CHECK:-no answer} (D1 is 127.0.0.1:${PORT[D1]})" >&2
  [ "$PROV_CHECK" = "302 127.0.0.1:${PORT[D1]}" ] || { echo "    C1 does not redirect to D1: no INVITE steps" >&2; return 1; }
  sleep "$SETTLE"
  for rate in $INV_RATES; do
    calls=$(( rate * STEP_S ))
    v=$(measure invite302-province C1 "$rate" "$calls" "$pool" 1 invite302-aor.xml 'pinv-%u-%p@bench')
    if [ "$v" = pass ]; then PROV_BEST=$rate; PROV_BEST_ACH=$(tail -1 "$RES" | cut -f8); else break; fi
  done
  measure cpu-invite302-province C1 "$CPU_RATE" $(( CPU_RATE * CPU_S )) "$pool" 1 invite302-aor.xml 'pcpuinv-%u-%p@bench' >/dev/null
  PROV_REDIRECTS=$("$WORK/bin/homesipctl" --socket "$WORK/tree/C1.sock" stats 2>/dev/null | awk '/redirects_total/ {print $NF; exit}')
  echo "    C1's redirects_total after the INVITE steps: ${PROV_REDIRECTS:-?}" >&2
}
case " $SERVERS " in
  *" homesip "*)
    say "phase D: three-hop redirect registration through the tree C1 → D1 → H1 ($TREE_N users, one at a time)"
    if tree_phase; then
      say "phase D: INVITE→302 redirects/s at the province C1 (302 to D1; rate steps: $INV_RATES; $STEP_S s of calls each)"
      province_phase || true
    else
      TREE="- - 0 0 - -"
    fi
    for s in H1 D1 C1; do stop_server "$s"; done ;;
esac

# Phase E: homesipd with location-ldap on a slapd started here
L=homesip-ldap
declare -A LDAP_MEM=()
LDAP_BEST_NEW=0 LDAP_BEST_NEW_ACH=0 LDAP_BEST_REF=0 LDAP_BEST_REF_ACH=0 LDAP_BINDINGS=- LDAP_PRATE=-
if [ $LDAP = 1 ]; then
  say "phase E: homesipd + location-ldap, new-binding REGISTER/s (rate steps: $LDAP_NEW_RATES; $STEP_S s of calls each)"
  start_slapd e1; start_server $L e1
  for rate in $LDAP_NEW_RATES; do
    calls=$(( rate * STEP_S )) csv=$WORK/ldap-new-$rate.csv
    users_csv "$csv" "l${rate}x" 1 "$calls"
    v=$(measure new $L "$rate" "$calls" "$csv" 1)
    if [ "$v" = pass ]; then LDAP_BEST_NEW=$rate; LDAP_BEST_NEW_ACH=$(tail -1 "$RES" | cut -f8); else break; fi
  done
  stop_server $L; stop_server slapd

  say "phase E: fresh slapd + homesipd, preload $LDAP_PRELOAD bindings, refresh REGISTER/s (rate steps: $LDAP_REFRESH_RATES), CPU per request at $LDAP_CPU_RATE/s"
  start_slapd e2; start_server $L e2
  sleep 1
  LDAP_MEM[hs0]=$(awk '/^VmRSS:/ {print $2}' /proc/${PID[$L]}/status) LDAP_MEM[sl0]=$(awk '/^VmRSS:/ {print $2}' /proc/${PID[slapd]}/status)
  # Preload at the highest new-binding step that passed, at most 2000/s (or the lowest step).
  LDAP_PRATE=${LDAP_PRELOAD_RATE:-$(( LDAP_BEST_NEW > 0 ? (LDAP_BEST_NEW < 2000 ? LDAP_BEST_NEW : 2000) : ${LDAP_NEW_RATES%% *} ))}
  LPOOL=$WORK/ldap-pool.csv
  users_csv "$LPOOL" lp 1 "$LDAP_PRELOAD"
  LCSEQ=1
  measure preload $L "$LDAP_PRATE" "$LDAP_PRELOAD" "$LPOOL" $LCSEQ >/dev/null
  sleep 1
  LDAP_MEM[hs1]=$(awk '/^VmRSS:/ {print $2}' /proc/${PID[$L]}/status) LDAP_MEM[sl1]=$(awk '/^VmRSS:/ {print $2}' /proc/${PID[slapd]}/status)
  LDAP_BINDINGS=$(ldap_entries)
  echo "    directory holds $LDAP_BINDINGS binding entries after the preload" >&2
  for rate in $LDAP_REFRESH_RATES; do
    calls=$(( rate * STEP_S )); LCSEQ=$(( LCSEQ + 10 ))
    v=$(measure refresh $L "$rate" "$calls" "$LPOOL" $LCSEQ)
    if [ "$v" = pass ]; then LDAP_BEST_REF=$rate; LDAP_BEST_REF_ACH=$(tail -1 "$RES" | cut -f8); else break; fi
  done
  LCSEQ=$(( LCSEQ + 10 ))
  measure cpu-refresh $L "$LDAP_CPU_RATE" $(( LDAP_CPU_RATE * CPU_S )) "$LPOOL" $LCSEQ >/dev/null
  users_csv "$WORK/ldap-cpu-new.csv" lc 1 $(( LDAP_CPU_RATE * CPU_S ))
  measure cpu-new $L "$LDAP_CPU_RATE" $(( LDAP_CPU_RATE * CPU_S )) "$WORK/ldap-cpu-new.csv" 1 >/dev/null
  stop_server $L; stop_server slapd
fi
# Phase F: authenticated REGISTER, homesipd (auth-digest) beside Kamailio (registrar-auth.cfg)
AUTH_SERVERS=""
for s in homesip kamailio; do case " $SERVERS " in *" $s "*) AUTH_SERVERS="$AUTH_SERVERS $s" ;; esac; done
AUTH_SERVERS=${AUTH_SERVERS# }
LOADGEN=${LOADGEN:-$(dirname "$HOMESIPD")/homesip-loadgen}
if [ $AUTH = 1 ] && [ -n "$AUTH_SERVERS" ]; then
  if [ -x "$LOADGEN" ]; then
    say "phase F: authenticated REGISTER/s (bench/auth.sh, servers: $AUTH_SERVERS)"
    HOMESIPD=$HS_BIN HOMESIP_PLUGINS=$HS_PLUGINS LOADGEN=$LOADGEN "$BENCH/auth.sh" \
      $( [ $QUICK = 1 ] && echo --quick ) --servers "${AUTH_SERVERS// /,}" --report "$WORK/auth.md" >/dev/null ||
      echo "    bench/auth.sh failed: no authenticated REGISTER figures in this report" >&2
  else
    echo "    phase F skipped: no $LOADGEN (build the target homesip-loadgen)" >&2
  fi
fi
# Phase G: the fair bench, homesipd and tuned Kamailio under our own generator, and the ceiling
if [ $FAIR = 1 ] && [ -n "$AUTH_SERVERS" ]; then
  if [ -x "$LOADGEN" ]; then
    # homesipd with one loop, with one loop and no coalescing, with the previous defaults, and with two loops
    fair_servers=${AUTH_SERVERS/homesip/homesip homesip-eager homesip-prev homesip2}
    say "phase G: the fair bench (bench/fair.sh, servers: $fair_servers)"
    fair_doc=(--no-doc); [ -n "$DOC" ] && fair_doc=(--doc "$DOC")
    HOMESIPD=$HS_BIN HOMESIP_PLUGINS=$HS_PLUGINS LOADGEN=$LOADGEN "$BENCH/fair.sh" \
      $( [ $QUICK = 1 ] && echo --quick ) --servers "${fair_servers// /,}" \
      "${fair_doc[@]}" >"$WORK/fair.md" ||
      echo "    bench/fair.sh failed: no fair-bench figures in this run" >&2
  else
    echo "    phase G skipped: no $LOADGEN (build the target homesip-loadgen)" >&2
  fi
fi
ELAPSED=$(( $(date +%s) - START ))

# ---------------------------------------------------------------------------------------------
# Report
name() { case $1 in homesip) echo homesipd ;; C1) echo "homesipd (province C1)" ;; homesip-ldap) echo "homesipd (LDAP)" ;; homesip-base) echo "homesipd base ${HOMESIP_BASE_REV:-}" ;; *) echo Kamailio ;; esac; }
row_of() { awk -F'\t' -v k="$1" -v s="$2" '$1 == k && $2 == s' "$RES" | tail -1; }
fmt_mib() { [ -n "${1:-}" ] && awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }' || echo -; }
hs_rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -n "$(git -C "$ROOT" status --porcelain -- core plugins sdk 2>/dev/null)" ] && hs_rev="$hs_rev+uncommitted changes"
[ "$HOMESIPD" != "$ROOT/build/bin/homesipd" ] && hs_rev="$hs_rev (binary: $HOMESIPD, plugins: $PLUGINS)"

REPORT=$WORK/report.md
{
  echo "<!-- generated by bench/run.sh on $(date -u '+%Y-%m-%d %H:%M UTC'); everything below is overwritten by the next run -->"
  echo
  echo "Run: $(date -u '+%Y-%m-%d %H:%M UTC'), $( [ $QUICK = 1 ] && echo '**quick smoke run (not a benchmark)**' || echo 'full run'), ${ELAPSED} s."
  echo "Machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM,"
  echo "$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME"), kernel $(uname -r); net.core.rmem_max $(cat /proc/sys/net/core/rmem_max)."
  echo "Versions: homesip $hs_rev; $(kamailio -v 2>/dev/null | head -1 | sed 's/^version: //; s/ *$//'); $(sipp -v 2>/dev/null | grep -o 'SIPp v[^ ]*' | head -1 | sed 's/\.$//')."
  echo "Load: SIPp \`bench/scenarios/reg.xml\`, \`invite302.xml\` and (province) \`invite302-aor.xml\`, UDP, \`-buff_size $BUFF\`, $STEP_S s of calls per step; preload $PRELOAD bindings at $prate/s (INVITE phase: $INV_USERS users, redirect configs); CPU runs at $CPU_RATE/s for $CPU_S s; three-hop registrations: $TREE_N users one at a time, then INVITE→302 at the province C1 of that tree (users uN@C1.D1.H1, N = 1..$INV_USERS, none registered: each INVITE is C1's lookup of D1's binding and a 302 to D1)."
  [ $LDAP = 1 ] && echo "LDAP phase: $("$SLAPD" -VV 2>&1 | grep -o 'slapd [0-9.]*' | head -1) (mdb), new-binding steps $LDAP_NEW_RATES, preload $LDAP_PRELOAD bindings at $LDAP_PRATE/s, refresh steps $LDAP_REFRESH_RATES, CPU runs at $LDAP_CPU_RATE/s for $CPU_S s."
  echo
  if [ -n "$SERVERS" ]; then
  echo "### Summary"
  echo
  printf '| | %s |\n' "$(for s in $SERVERS; do name "$s"; done | paste -sd'|' | sed 's/|/ | /g')"
  printf '|---|%s\n' "$(for s in $SERVERS; do printf -- '---|'; done)"
  line() { local label=$1; shift; printf '| %s |' "$label"; for v in "$@"; do printf ' %s |' "$v"; done; echo; }
  vals=(); for s in $SERVERS; do
    if [ "${BEST_NEW[$s]}" = 0 ]; then vals+=("< ${NEW_RATES%% *} (first step failed)"); else vals+=("$( [ "${BEST_NEW[$s]}" = $max_new ] && echo '≥ ' || true)**${BEST_NEW[$s]}** (achieved ${BEST_NEW_ACH[$s]}$( [ "${BEST_NEW[$s]}" = $max_new ] && echo ', highest step' || true))"); fi
  done; line "new-binding REGISTER/s sustained" "${vals[@]}"
  vals=(); for s in $SERVERS; do
    if [ "${BEST_REF[$s]}" = 0 ]; then vals+=("< ${REFRESH_RATES%% *} (first step failed)"); else vals+=("$( [ "${BEST_REF[$s]}" = $max_refresh ] && echo '≥ ' || true)**${BEST_REF[$s]}** (achieved ${BEST_REF_ACH[$s]}$( [ "${BEST_REF[$s]}" = $max_refresh ] && echo ', highest step' || true))"); fi
  done; line "refresh REGISTER/s sustained" "${vals[@]}"
  for k in cpu-new cpu-refresh; do
    vals=(); for s in $SERVERS; do
      IFS=$'\t' read -r _ _ _ calls ok failed retr ach p50 p99 spct _ us _ <<<"$(row_of $k "$s")"
      vals+=("$us µs (server CPU $spct %, $failed failed, $retr retrans)")
    done; line "server CPU per ${k#cpu-} REGISTER at $CPU_RATE/s" "${vals[@]}"
  done
  vals=(); for s in $SERVERS; do
    if [ "${BEST_INV[$s]}" = 0 ]; then vals+=("< ${INV_RATES%% *} (first step failed)"); else vals+=("$( [ "${BEST_INV[$s]}" = $max_inv ] && echo '≥ ' || true)**${BEST_INV[$s]}** (achieved ${BEST_INV_ACH[$s]}$( [ "${BEST_INV[$s]}" = $max_inv ] && echo ', highest step' || true))"); fi
  done; line "INVITE→302 redirects/s sustained at a family (302 to the user; $INV_USERS registered users)" "${vals[@]}"
  vals=(); for s in $SERVERS; do
    IFS=$'\t' read -r _ _ _ calls ok failed retr ach p50 p99 spct _ us _ <<<"$(row_of cpu-invite302 "$s")"
    vals+=("$us µs (server CPU $spct %, $failed failed, $retr retrans)")
  done; line "server CPU per INVITE→302 at a family at $CPU_RATE/s" "${vals[@]}"
  vals=(); for s in $SERVERS; do
    if [ "$s" = homesip ]; then
      if [ -z "$(row_of invite302-province C1)" ]; then vals+=("not measured (${PROV_CHECK:-tree down}: C1 did not redirect u1@C1.D1.H1 to D1)")
      elif [ "$PROV_BEST" = 0 ]; then vals+=("< ${INV_RATES%% *} (first step failed)")
      else vals+=("$( [ "$PROV_BEST" = $max_inv ] && echo '≥ ' || true)**$PROV_BEST** (achieved $PROV_BEST_ACH$( [ "$PROV_BEST" = $max_inv ] && echo ', highest step' || true); tree C1 → D1 → H1, INVITE uN@C1.D1.H1 to C1)"); fi
    elif [ "$s" = homesip-base ]; then vals+=("not measured (phase D runs the current build only)")
    else vals+=("n/a: Kamailio has no equivalent (no redirect tree)"); fi
  done; line "INVITE→302 redirects/s sustained at a province (302 to the community)" "${vals[@]}"
  vals=(); for s in $SERVERS; do
    if [ "$s" = homesip ] && [ -n "$(row_of cpu-invite302-province C1)" ]; then
      IFS=$'\t' read -r _ _ _ calls ok failed retr ach p50 p99 spct _ us _ <<<"$(row_of cpu-invite302-province C1)"
      vals+=("$us µs (server CPU $spct %, $failed failed, $retr retrans)")
    elif [ "$s" = homesip ]; then vals+=("not measured")
    elif [ "$s" = homesip-base ]; then vals+=("not measured (phase D runs the current build only)")
    else vals+=("n/a: Kamailio has no equivalent (no redirect tree)"); fi
  done; line "server CPU per INVITE→302 at a province at $CPU_RATE/s" "${vals[@]}"
  vals=(); for s in $SERVERS; do read -r a b n <<<"${RTT[$s]}"; vals+=("$a / $b µs"); done
  line "idle refresh round trip p50 / p99 (one at a time, $RTT_N)" "${vals[@]}"
  vals=(); for s in $SERVERS; do
    if [ "$s" = homesip ]; then
      read -r a b n hops mean mx hopv <<<"$TREE"
      vals+=("**$a / $b µs** ($n of $TREE_N ok, $hops requests each; mean $mean, max $mx µs; per request p50 $(echo "${hopv:-}" | sed 's| | / |g') µs)")
    elif [ "$s" = homesip-base ]; then vals+=("not measured (phase D runs the current build only)")
    else vals+=("n/a: Kamailio has no equivalent (no redirect tree)"); fi
  done; line "idle three-hop redirect registration C1 → 302 → D1 → 302 → H1 → 200, p50 / p99 (one at a time)" "${vals[@]}"
  vals=(); for s in $SERVERS; do
    if [ "$s" = homesip ] || [ "$s" = homesip-base ]; then vals+=("VmRSS $(fmt_mib "${MEM0[$s]}") → $(fmt_mib "${MEM1[$s]}") MiB")
    else vals+=("ΣPss $(fmt_mib "${MEM0[$s]}") → $(fmt_mib "${MEM1[$s]}") MiB (shm used $(fmt_mib "${SHM0[$s]:-}") → $(fmt_mib "${SHM1[$s]:-}") MiB)"); fi
  done; line "memory idle → after $PRELOAD bindings" "${vals[@]}"
  vals=(); for s in $SERVERS; do vals+=("${BINDINGS[$s]:-?}"); done
  line "bindings stored after the preload (+2 probe users)" "${vals[@]}"
  echo
  fi
  if [ $LDAP = 1 ]; then
    echo "### homesipd: location-ldap beside location-sqlite"
    echo
    echo "Same homesipd and registrar, only the store differs (\`family-bench.yaml\` / \`family-ldap-bench.yaml\`). The LDAP row's steps, preload and CPU rate are its own (see *LDAP phase* above); its CPU is homesipd's and slapd's, apart."
    echo
    echo "| store | new-binding REGISTER/s sustained | refresh REGISTER/s sustained | server CPU per new REGISTER | server CPU per refresh REGISTER | memory idle → after preload |"
    echo "|---|---|---|---|---|---|"
    sust() {  # best achieved max first -> cell
      if [ "$1" = 0 ]; then echo "< $4 (first step failed)"
      else echo "$( [ "$1" = "$3" ] && echo '≥ ' || true)**$1** (achieved $2$( [ "$1" = "$3" ] && echo ', highest step' || true))"; fi
    }
    case " $SERVERS " in
      *" homesip "*)
        cells=()
        for k in cpu-new cpu-refresh; do
          IFS=$'\t' read -r _ _ rate _ _ failed retr _ _ _ spct _ us _ <<<"$(row_of $k homesip)"
          cells+=("$us µs at $rate/s (server CPU $spct %, $failed failed, $retr retrans)")
        done
        printf '| location-sqlite (synchronous: full) | %s | %s | %s | %s | VmRSS %s → %s MiB (%s bindings) |\n' \
          "$(sust "${BEST_NEW[homesip]}" "${BEST_NEW_ACH[homesip]}" $max_new "${NEW_RATES%% *}")" \
          "$(sust "${BEST_REF[homesip]}" "${BEST_REF_ACH[homesip]}" $max_refresh "${REFRESH_RATES%% *}") after $PRELOAD bindings" \
          "${cells[0]}" "${cells[1]}" "$(fmt_mib "${MEM0[homesip]}")" "$(fmt_mib "${MEM1[homesip]}")" "$PRELOAD" ;;
    esac
    cells=()
    for k in cpu-new cpu-refresh; do
      IFS=$'\t' read -r _ _ rate _ _ failed retr _ _ _ spct _ us _ lpct lus <<<"$(row_of $k $L)"
      tot=$(( ${us:-0} + ${lus:-0} ))
      cells+=("**$tot µs** at $rate/s: homesipd $us µs + slapd $lus µs (homesipd CPU $spct %, slapd $lpct %, $failed failed, $retr retrans)")
    done
    printf '| location-ldap (slapd mdb, cache_ms 1000) | %s | %s | %s | %s | homesipd VmRSS %s → %s MiB, slapd VmRSS %s → %s MiB (%s binding entries) |\n' \
      "$(sust $LDAP_BEST_NEW $LDAP_BEST_NEW_ACH $max_ldap_new "${LDAP_NEW_RATES%% *}")" \
      "$(sust $LDAP_BEST_REF $LDAP_BEST_REF_ACH $max_ldap_ref "${LDAP_REFRESH_RATES%% *}") after $LDAP_PRELOAD bindings" \
      "${cells[0]}" "${cells[1]}" "$(fmt_mib "${LDAP_MEM[hs0]}")" "$(fmt_mib "${LDAP_MEM[hs1]}")" \
      "$(fmt_mib "${LDAP_MEM[sl0]}")" "$(fmt_mib "${LDAP_MEM[sl1]}")" "$LDAP_BINDINGS"
    echo
  fi
  if [ -s "$WORK/auth.md" ]; then cat "$WORK/auth.md"; echo; fi
  echo "### Every run"
  echo
  echo "RTT = SIPp's request → final response time (REGISTER→200, INVITE→302), whole milliseconds (0 = under 1 ms). CPU % of one core; *other CPU* = the machine's busy time (\`/proc/stat\`) minus server and SIPp during the step, i.e. everything else that ran meanwhile (tens of % = a disturbed step)."
  echo
  echo "| run | server | target/s | calls | successful (200 / 302) | failed | retrans | achieved/s | RTT p50 / p99 ms | server CPU | SIPp CPU | other CPU | server µs/req | slapd CPU | slapd µs/req |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  while IFS=$'\t' read -r k s rate calls ok failed retr ach p50 p99 spct sipct us other lpct lus; do
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s %% | %s %% | %s %% | %s | %s | %s |\n' \
      "$k" "$(name "$s")" "$rate" "$calls" "$ok" "$failed" "$retr" "$ach" "$p50" "$p99" "$spct" "$sipct" "$other" "$us" \
      "$( [ "$lpct" = - ] && echo - || echo "$lpct %")" "$lus"
  done <"$RES"
} >"$REPORT"

BEGIN_MARK='<!-- BEGIN GENERATED: bench/run.sh -->'
END_MARK='<!-- END GENERATED: bench/run.sh -->'
if [ -n "$DOC" ]; then
  if [ ! -f "$DOC" ] || ! grep -qF "$BEGIN_MARK" "$DOC"; then
    { echo "# Benchmarks"; echo; echo "Generated by \`./homesip bench\` (bench/run.sh)."; echo; echo "$BEGIN_MARK"; echo "$END_MARK"; } >"$DOC"
  fi
  awk -v b="$BEGIN_MARK" -v e="$END_MARK" -v rep="$REPORT" '
    $0 == b { print; while ((getline l < rep) > 0) print l; skip = 1; next }
    $0 == e { skip = 0 }
    !skip { print }' "$DOC" >"$DOC.tmp" && mv "$DOC.tmp" "$DOC"
  say "results written to $DOC"
else
  say "results (not written to docs/: quick run or --no-doc; copy in $REPORT)"
  KEEP=1
fi
cat "$REPORT"
if [ -s "$WORK/fair.md" ]; then echo; cat "$WORK/fair.md"; fi
