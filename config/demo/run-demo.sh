#!/usr/bin/env bash
# The demo behind `./homesip demo`: a whole management network on loopback
# (paper, Fig. 2): province C1, communities D1 and D2, two families under each,
# started from config/examples/*.yaml with only ports, files and the tree
# block's name/domain/top overridden. Users register through the top (two
# redirects each) and call each other through redirects; a baresip and a
# linphonec phone in different families call through their family servers
# (config/demo/phone-call.sh).
# Everything runs in a temp dir and stops at the end (--keep leaves the tree
# running until Ctrl-C).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$ROOT/build/bin
PLUGINS=$ROOT/build/lib/homesip/plugins
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

declare -A PORT
# start NAME CONFIG --set ... : runs homesipd in the background, logs to $WORK/NAME.log
start() {
  local name=$1 config=$2; shift 2
  "$BIN/homesipd" --config "$config" --set "server.plugin_dirs=[$PLUGINS]" \
    --set "server.listen=[udp:127.0.0.1:${PORT[$name]}, tcp:127.0.0.1:${PORT[$name]}]" \
    --set "plugins.location-sqlite.path=$WORK/$name.sqlite" \
    --set "server.admin_socket=$WORK/$name.sock" "$@" \
    >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
}
ctl() { local name=$1; shift; "$BIN/homesipctl" --socket "$WORK/$name.sock" "$@"; }

for s in C1 D1 D2 D1H1 D1H2 D2H1 D2H2; do PORT[$s]=$(free_port); done
TOP="sip:127.0.0.1:${PORT[C1]}"

say "starting the management network (logs and stores in $WORK)"
start C1 "$EXAMPLES/province.yaml"
echo "    C1          province   udp/tcp 127.0.0.1:${PORT[C1]}"
# Each server's place is its tree block: name, domain and the top's address
# (the parent is learned from the top's redirects).
for d in D1 D2; do
  start $d "$EXAMPLES/community.yaml" --set plugins.tree.name=$d --set "plugins.tree.top=$TOP" \
    --set plugins.tree.register_expires=30
  echo "    $d@C1       community  udp/tcp 127.0.0.1:${PORT[$d]}"
  for h in H1 H2; do
    start $d$h "$EXAMPLES/family.yaml" --set plugins.tree.name=$h --set plugins.tree.domain=C1.$d \
      --set "plugins.tree.top=$TOP" --set plugins.tree.register_expires=30
    echo "    $h@C1.$d    family     udp/tcp 127.0.0.1:${PORT[$d$h]}"
  done
done

say "each server registers upward: it starts at the top and is redirected to its parent (homesipctl tree)"
for name in D1 D2 D1H1 D1H2 D2H1 D2H2; do
  for _ in $(seq 150); do ctl $name --json tree 2>/dev/null | grep -q '"parent": "' && break; sleep 0.1; done
  ctl $name --json tree 2>/dev/null | python3 -c '
import json, sys
t = json.load(sys.stdin)
print("    %-10s parent %s (%s)" % (t["aor"], t["parent"], t["registration"]))' || echo "    $name: no answer (see $WORK/$name.log)"
done

say "users register through the top server C1: REGISTER -> 302 (community) -> 302 (family) -> 200"
register_user() {  # user domain
  local trace=$WORK/reg-$1-$2.msg
  if sipp "127.0.0.1:${PORT[C1]}" -sf "$SCENARIOS/redirect_register.xml" -key user "$1" -key domain "$2" \
      -m 1 -nostdin -timeout 10s -timeout_error -i 127.0.0.1 -p "$(free_port)" \
      -trace_msg -message_file "$trace" >/dev/null 2>&1; then
    local hops
    hops=$(grep -E "^(SIP/2.0 30|Contact: <sip:[A-Z])" "$trace" | grep -A1 "^SIP/2.0 302" | grep Contact | \
      sed 's/Contact: <\([^>]*\)>.*/\1/' | tr '\n' ' ')
    printf '    %-16s C1 302 -> %s-> 200 OK\n' "$1@$2" "$hops"
  else
    printf '    %-16s FAILED (see %s)\n' "$1@$2" "$trace"
    return 1
  fi
}
for family in C1.D1.H1 C1.D1.H2 C1.D2.H1 C1.D2.H2; do
  for u in U3 U4; do register_user $u $family; done  # U1, U2: the phones' further down
done

say "a user of a family that does not exist is refused at the top (404)"
sipp "127.0.0.1:${PORT[C1]}" -sf "$SCENARIOS/redirect_register.xml" -key user U1 -key domain C1.D9.H1 -m 1 \
  -nostdin -timeout 5s -timeout_error -i 127.0.0.1 -p "$(free_port)" -trace_msg -message_file "$WORK/404.msg" \
  >/dev/null 2>&1 || true
grep -m1 "^SIP/2.0 4" "$WORK/404.msg" | sed 's/^/    U1@C1.D9.H1: /'

if [ -x "$BIN/homesip-ua" ]; then
  say "redirect calls: INVITE to the caller's family server, 302s down to the callee, INVITE straight to it"
  callee_port=$(free_port)
  "$BIN/homesip-ua" answer --aor U9@C1.D1.H1 --server "$TOP" --listen "udp:127.0.0.1:$callee_port" --calls 2 \
    --timeout 30 >"$WORK/callee.log" 2>&1 &
  PIDS+=($!)
  sleep 1
  echo "    within family C1.D1.H1: U1 calls U9"
  "$BIN/homesip-ua" call --aor U1@C1.D1.H1 --to U9@C1.D1.H1 --server "sip:127.0.0.1:${PORT[D1H1]}" --duration 1 \
    --listen "udp:127.0.0.1:$(free_port)" 2>&1 | sed 's/^/      /' || true
  echo "    between families: U1@C1.D2.H2 calls U9@C1.D1.H1 (its family sends it to the top in one 302)"
  "$BIN/homesip-ua" call --aor U1@C1.D2.H2 --to U9@C1.D1.H1 --server "sip:127.0.0.1:${PORT[D2H2]}" --duration 1 \
    --listen "udp:127.0.0.1:$(free_port)" 2>&1 | sed 's/^/      /' || true
  echo "    where is U9? homesip-ua locate follows the tree from the top"
  "$BIN/homesip-ua" locate U9@C1.D1.H1 --top "$TOP" 2>&1 | sed 's/^/      /' || true
fi

say "ordinary phones: baresip U1@C1.D1.H1 calls linphonec U2@C1.D2.H2, each through its own family server"
echo "    (registrar and outbound proxy: the family server, which resolves the callee through the tree"
echo "    and forwards; U1's account line is what homesipctl locate U1@C1.D1.H1 prints at any server:)"
ctl D2H2 --json locate U1@C1.D1.H1 2>/dev/null | python3 -c '
import json, sys
l = json.load(sys.stdin)
print("      %s\n      (found at %s via %s)" % (l["baresip"], l["family_server"], " -> ".join(l["path"])))' || true
"$ROOT/config/demo/phone-call.sh" "${PORT[D1H1]}" "${PORT[D2H2]}" C1.D1.H1 C1.D2.H2 || true

say "the tree's state at each server: its place, its parent and its children online (homesipctl tree)"
for name in C1 D1 D1H1; do
  echo "    $name  (homesipctl --socket $WORK/$name.sock tree)"
  ctl $name tree | sed 's/^/      /'
done
echo "    the users of family H1@C1.D1 (homesipctl --socket $WORK/D1H1.sock bindings C1.D1.H1)"
ctl D1H1 bindings C1.D1.H1 | sed 's/^/      /'

if [ $KEEP = 1 ]; then
  say "tree running; Ctrl-C stops it"
  wait
fi
say "stopping the tree"
