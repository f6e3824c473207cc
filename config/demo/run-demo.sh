#!/usr/bin/env bash
# The demo behind `./homesip demo`: a whole management network on loopback
# (paper, Fig. 2): province C1, communities D1 and D2, two families under each,
# started from config/examples/*.yaml with only ports, files and the tree
# block's name/domain/top overridden. It runs secured as the examples are
# (docs/security.md): a CA made with `homesipctl pki`, one certificate per
# server, the servers speaking TLS to each other and proving who they are by
# certificate, the users by password (printed below). Users register through
# the top (two redirects each) and call each other through redirects; a
# baresip and a linphonec phone in different families call through their
# family servers (config/demo/phone-call.sh); requests without a password
# are refused. Then the appliances (docs/appliances.md): a member away from
# home turns the kitchen light on through the top server, a watcher sees the
# change, a user of another family is refused.
# Everything runs in a temp dir and stops at the end (--keep leaves the tree
# running until Ctrl-C).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# HOMESIP_BUILD=build-x (or an absolute path) runs the binaries of another build directory.
BUILD=$(cd "$ROOT" && cd "${HOMESIP_BUILD:-build}" && pwd)
BIN=$BUILD/bin
PLUGINS=$BUILD/lib/homesip/plugins
EXAMPLES=$ROOT/config/examples
SCENARIOS=$ROOT/tests/integration/scenarios
KEEP=0
[ "${1:-}" = "--keep" ] && KEEP=1
WORK=$(mktemp -d /tmp/homesip-demo-XXXXXX)
PIDS=()

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

free_port() {
  python3 -c '
import socket, random
# outside the ephemeral range, where clients started meanwhile pick their ports
low, high = map(int, open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
first, last = (10000, low - 1) if low - 10000 >= 65535 - high else (high + 1, 65535)
for _ in range(500):
    p = random.randint(first, last)
    try:
        for t in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            s = socket.socket(socket.AF_INET, t); s.bind(("127.0.0.1", p)); s.close()
        print(p); break
    except OSError:
        pass'
}

declare -A PORT TLS_PORT HTTP_PORT AOR
AOR=([C1]=C1 [D1]=D1@C1 [D2]=D2@C1 [D1H1]=H1@C1.D1 [D1H2]=H2@C1.D1 [D2H1]=H1@C1.D2 [D2H2]=H2@C1.D2)
# start NAME CONFIG --set ... : runs homesipd in the background, logs to $WORK/NAME.log
start() {
  local name=$1 config=$2; shift 2
  "$BIN/homesipd" --config "$config" --set "server.plugin_dirs=[$PLUGINS]" \
    --set "server.listen=[tls:127.0.0.1:${TLS_PORT[$name]}, udp:127.0.0.1:${PORT[$name]}, tcp:127.0.0.1:${PORT[$name]}]" \
    --set "server.tls_certificates=$WORK/tls/$name" \
    --set "plugins.location-sqlite.path=$WORK/$name.sqlite" \
    --set "plugins.auth-digest.secret_file=$WORK/$name.nonce-secret" \
    --set "server.admin_socket=$WORK/$name.sock" \
    --set "server.http.listen=127.0.0.1:${HTTP_PORT[$name]}" --set "server.http.token_file=$WORK/http.token" "$@" \
    >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
}
ctl() { local name=$1; shift; "$BIN/homesipctl" --socket "$WORK/$name.sock" "$@"; }

for s in C1 D1 D2 D1H1 D1H2 D2H1 D2H2; do
  PORT[$s]=$(free_port)
  TLS_PORT[$s]=$(free_port)
  HTTP_PORT[$s]=$(free_port)
done
# One token for every server's status page, /api/ and /metrics (server.http): the link below holds it.
TOKEN=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
(umask 077 && echo "$TOKEN" >"$WORK/http.token")
TOP="sip:127.0.0.1:${PORT[C1]}"
TOP_TLS="sips:127.0.0.1:${TLS_PORT[C1]}"
CA=$WORK/pki/cafile.pem

say "a CA for the tree and one certificate per server, naming its AOR (homesipctl pki)"
"$BIN/homesipctl" pki init "$WORK/pki" >/dev/null
for s in C1 D1 D2 D1H1 D1H2 D2H1 D2H2; do
  "$BIN/homesipctl" pki issue "$WORK/pki" "${AOR[$s]}" --ip 127.0.0.1 --out "$WORK/tls/$s" >/dev/null
  printf '    %-10s %s\n' "${AOR[$s]}" "$WORK/tls/$s/agent.pem (SAN sip:${AOR[$s]}, 127.0.0.1)"
done

say "starting the management network (logs and stores in $WORK)"
start C1 "$EXAMPLES/province.yaml"
echo "    C1          province   udp/tcp 127.0.0.1:${PORT[C1]}, tls ${TLS_PORT[C1]}"
# Each server's place is its tree block: name, domain and the top's address
# (the parent is learned from the top's redirects). The servers reach each
# other over TLS; baresip 1.0 (D1's H1) cannot register where SHA-256 is offered.
for d in D1 D2; do
  start $d "$EXAMPLES/community.yaml" --set plugins.tree.name=$d --set "plugins.tree.top=$TOP_TLS" \
    --set plugins.tree.register_expires=30
  echo "    $d@C1       community  udp/tcp 127.0.0.1:${PORT[$d]}, tls ${TLS_PORT[$d]}"
  for h in H1 H2; do
    algorithms=()
    [ $d$h = D1H1 ] && algorithms=(--set "plugins.auth-digest.algorithms=[MD5]")
    start $d$h "$EXAMPLES/family.yaml" --set plugins.tree.name=$h --set plugins.tree.domain=C1.$d \
      --set "plugins.tree.top=$TOP_TLS" --set plugins.tree.register_expires=30 "${algorithms[@]}"
    echo "    $h@C1.$d    family     udp/tcp 127.0.0.1:${PORT[$d$h]}, tls ${TLS_PORT[$d$h]}"
  done
done

say "each server registers upward over TLS: it starts at the top and is redirected to its parent; its certificate is its credential"
for name in D1 D2 D1H1 D1H2 D2H1 D2H2; do
  for _ in $(seq 150); do ctl $name --json tree 2>/dev/null | grep -q '"parent": "' && break; sleep 0.1; done
  ctl $name --json tree 2>/dev/null | python3 -c '
import json, sys
t = json.load(sys.stdin)
print("    %-10s parent %s (%s)" % (t["aor"], t["parent"], t["registration"]))' || echo "    $name: no answer (see $WORK/$name.log)"
done

say "the demo users and their passwords (homesipctl user add at each family server; stored as HA1 only)"
declare -A PASSWORD
family_server() {  # C1.D1.H1 -> D1H1
  local rest=${1#C1.}
  echo "${rest%%.*}${rest#*.}"
}
add_user() {  # user domain role
  local server password_file
  server=$(family_server "$2")
  PASSWORD[$1@$2]=$(python3 -c 'import secrets; print(secrets.token_urlsafe(9))')
  password_file=$WORK/passwords/$1@$2
  mkdir -p "$WORK/passwords" && chmod 700 "$WORK/passwords"
  (umask 077 && echo "${PASSWORD[$1@$2]}" >"$password_file")
  ctl "$server" user add "$1@$2" --role "$3" --password-file "$password_file" >/dev/null
  printf '    %-16s %-7s password %s\n' "$1@$2" "$3" "${PASSWORD[$1@$2]}"
}
for family in C1.D1.H1 C1.D1.H2 C1.D2.H1 C1.D2.H2; do
  add_user U1 $family owner
  add_user U2 $family member
  add_user U3 $family member
  add_user U4 $family guest
  add_user U9 $family member
done

say "users register through the top server C1 (REGISTER -> 302 -> 302 -> 401 -> REGISTER with password -> 200)"
# The ua reaches the servers below the top over TLS (--ca) and takes calls on
# its UDP --listen address, which its binding names.
register_user() {  # user domain
  if "$BIN/homesip-ua" register --aor "$1@$2" --server "$TOP" --ca "$CA" --password-file "$WORK/passwords/$1@$2" \
      --listen udp:127.0.0.1:0 --once >"$WORK/reg-$1-$2.log" 2>&1; then
    printf '    %-16s %s\n' "$1@$2" "$(tail -1 "$WORK/reg-$1-$2.log")"
  else
    printf '    %-16s FAILED (see %s)\n' "$1@$2" "$WORK/reg-$1-$2.log"
    return 1
  fi
}
for family in C1.D1.H1 C1.D1.H2 C1.D2.H1 C1.D2.H2; do
  for u in U3 U4; do register_user $u $family; done  # U1, U2: the phones' further down
done

say "without the password, nobody registers as U3@C1.D1.H1 (its family server answers 401)"
"$BIN/homesip-ua" register --aor U3@C1.D1.H1 --server "$TOP" --ca "$CA" --listen "udp:127.0.0.1:$(free_port)" \
  --once 2>&1 | tail -1 | sed 's/^/    /' || true

say "a user of a family that does not exist is refused at the top (404)"
sipp "127.0.0.1:${PORT[C1]}" -sf "$SCENARIOS/redirect_register.xml" -key user U1 -key domain C1.D9.H1 -m 1 \
  -nostdin -timeout 5s -timeout_error -i 127.0.0.1 -p "$(free_port)" -trace_msg -message_file "$WORK/404.msg" \
  >/dev/null 2>&1 || true
grep -m1 "^SIP/2.0 4" "$WORK/404.msg" | sed 's/^/    U1@C1.D9.H1: /'

if [ -x "$BIN/homesip-ua" ]; then
  say "redirect calls: INVITE to the caller's family server, 302s down to the callee, INVITE straight to it"
  callee_port=$(free_port)
  "$BIN/homesip-ua" answer --aor U9@C1.D1.H1 --server "$TOP" --ca "$CA" --password-file "$WORK/passwords/U9@C1.D1.H1" \
    --listen "udp:127.0.0.1:$callee_port" --calls 2 --timeout 30 >"$WORK/callee.log" 2>&1 &
  PIDS+=($!)
  sleep 1
  echo "    within family C1.D1.H1: U3 calls U9"
  "$BIN/homesip-ua" call --aor U3@C1.D1.H1 --to U9@C1.D1.H1 --server "sip:127.0.0.1:${PORT[D1H1]}" --duration 1 \
    --ca "$CA" --password-file "$WORK/passwords/U3@C1.D1.H1" --listen "udp:127.0.0.1:$(free_port)" 2>&1 |
    sed 's/^/      /' || true
  echo "    between families: U3@C1.D2.H2 calls U9@C1.D1.H1 (its family sends it to the top in one 302)"
  "$BIN/homesip-ua" call --aor U3@C1.D2.H2 --to U9@C1.D1.H1 --server "sip:127.0.0.1:${PORT[D2H2]}" --duration 1 \
    --ca "$CA" --password-file "$WORK/passwords/U3@C1.D2.H2" --listen "udp:127.0.0.1:$(free_port)" 2>&1 |
    sed 's/^/      /' || true
fi

say "ordinary phones: baresip U1@C1.D1.H1 calls linphonec U2@C1.D2.H2, each through its own family server"
echo "    (registrar and outbound proxy: the family server, which resolves the callee through the tree"
echo "    and forwards; U1's account line is what homesipctl locate U1@C1.D1.H1 prints at any server:)"
ctl D2H2 --json locate U1@C1.D1.H1 2>/dev/null | python3 -c '
import json, sys
l = json.load(sys.stdin)
print("      %s\n      (found at %s via %s)" % (l["baresip"], l["family_server"], " -> ".join(l["path"])))' || true
PASSWORD1=${PASSWORD[U1@C1.D1.H1]} PASSWORD2=${PASSWORD[U2@C1.D2.H2]} \
  "$ROOT/config/demo/phone-call.sh" "${PORT[D1H1]}" "${PORT[D2H2]}" C1.D1.H1 C1.D2.H2 || true

say "appliances: light.kitchen of family C1.D1.H1, an entity reached through the tree like a user"
# Every ua below reaches the tree only through the top server C1, as a
# terminal away from home does, following its 302s down to the family server.
# (An array, not a function: the watcher in the background must be the ua's
# own PID, which cleanup stops; a function would run in a subshell.)
ua_options() {  # user: UA_OPTIONS for homesip-ua through the top with the user's password
  UA_OPTIONS=(--server "$TOP" --ca "$CA" --user "$1" --password-file "$WORK/passwords/$1"
    --listen "udp:127.0.0.1:$(free_port)")
}
LIGHT=light.kitchen@C1.D1.H1
echo "    U2@C1.D1.H1 (member) watches it: homesip-ua watch $LIGHT (output in $WORK/watch.log)"
ua_options U2@C1.D1.H1
"$BIN/homesip-ua" watch "$LIGHT" "${UA_OPTIONS[@]}" >"$WORK/watch.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do grep -q "^light.kitchen " "$WORK/watch.log" && break; sleep 0.1; done
grep -m1 "^light.kitchen " "$WORK/watch.log" | sed 's/^/      now: /' || echo "      no state yet (see $WORK/watch.log)"
echo "    U3@C1.D1.H1 (member, away from home) turns it on: homesip-ua control $LIGHT turn_on brightness=180"
ua_options U3@C1.D1.H1
"$BIN/homesip-ua" control "$LIGHT" turn_on brightness=180 "${UA_OPTIONS[@]}" >"$WORK/control.log" 2>&1 || true
grep -E "^MESSAGE .*: [0-9]{3}" "$WORK/control.log" | sed -E 's/^MESSAGE [^ ]+ -> //; s/^/      /' ||
  echo "      no answer (see $WORK/control.log)"
tail -1 "$WORK/control.log" | sed 's/^/      state after the 200: /'
echo "    the watcher's NOTIFY (within 5 s):"
CHANGE='^light.kitchen on .*"brightness":180'
for _ in $(seq 50); do grep -q "$CHANGE" "$WORK/watch.log" && break; sleep 0.1; done
grep -m1 "$CHANGE" "$WORK/watch.log" | sed 's/^/      U2 sees: /' ||
  echo "      none within 5 s (see $WORK/watch.log)"
echo "    U3@C1.D2.H2 (another family) tries the same:"
ua_options U3@C1.D2.H2
"$BIN/homesip-ua" control "$LIGHT" turn_on brightness=10 "${UA_OPTIONS[@]}" >"$WORK/control-outsider.log" 2>&1 ||
  true
grep -E "^MESSAGE .*: [0-9]{3}" "$WORK/control-outsider.log" | tail -1 | sed -E 's/^MESSAGE [^ ]+ -> //; s/^/      /' ||
  echo "      no answer (see $WORK/control-outsider.log)"
echo "    the entities at the family server (homesipctl --socket $WORK/D1H1.sock entities)"
ctl D1H1 --json entities | python3 -c '
import json, sys
for e in json.load(sys.stdin):
    attributes = {k: v for k, v in e["attributes"].items() if k != "friendly_name"}
    print("      %-25s %-4s %-20s watched by %s" % (e["entity_id"], e["state"], json.dumps(attributes),
                                                   ", ".join(e["watchers"]) or "nobody"))' ||
  echo "      no answer (see $WORK/D1H1.log)"

say "the tree's state at each server: its place, its parent and its children online (homesipctl tree)"
for name in C1 D1 D1H1; do
  echo "    $name  (homesipctl --socket $WORK/$name.sock tree)"
  ctl $name --json tree | python3 -c '
import json, sys, time
t = json.load(sys.stdin)
if t["domain"]:
    print("      %s below %s, serving %s; parent %s (%s)" % (t["aor"], t["domain"], t["child_domain"], t["parent"],
                                                         t["registration"]))
else:
    print("      %s the top, serving %s" % (t["name"], t["child_domain"]))
for c in t["children"]:
    print("        child %-9s %-7s since %s at %s" % (c["aor"], "online" if c["online"] else "OFFLINE",
                                                     time.strftime("%H:%M:%S", time.localtime(c["since"])), c["contact"]))' ||
    echo "      no answer (see $WORK/$name.log)"
done
echo "    the users of family H1@C1.D1 (homesipctl --socket $WORK/D1H1.sock bindings C1.D1.H1)"
ctl D1H1 bindings C1.D1.H1 | sed 's/^/      /'

say "each server's status page (plugins/status-page): open a link once, the token becomes a cookie"
for s in C1 D1 D2 D1H1 D1H2 D2H1 D2H2; do
  printf '    %-10s http://127.0.0.1:%s/?token=%s\n' "${AOR[$s]}" "${HTTP_PORT[$s]}" "$TOKEN"
done
[ $KEEP = 1 ] || echo "    (./homesip demo --keep leaves the tree running to look at them)"

if [ $KEEP = 1 ]; then
  say "tree running; Ctrl-C stops it"
  wait
fi
say "stopping the tree"
