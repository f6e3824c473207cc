#!/usr/bin/env bash
# The demo behind `./homesip demo`: a whole management network on loopback
# (paper, Fig. 2): province C1, communities D1 and D2, two families under each,
# started from config/examples/*.yaml with only ports and files overridden.
# Users register through the top (two redirects each) and call each other
# through redirects. Everything runs in a temp dir and stops at the end
# (--keep leaves the tree running until Ctrl-C).
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
    --set "plugins.location-sqlite.path=$WORK/$name.sqlite" --set server.register_expires=30 \
    --set "server.admin_socket=$WORK/$name.sock" "$@" \
    >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
}

for s in C1 D1 D2 D1H1 D1H2 D2H1 D2H2; do PORT[$s]=$(free_port); done
TOP="sip:127.0.0.1:${PORT[C1]}"

say "starting the management network (logs and stores in $WORK)"
start C1 "$EXAMPLES/province.yaml"
echo "    C1          province   udp/tcp 127.0.0.1:${PORT[C1]}"
for d in D1 D2; do
  start $d "$EXAMPLES/community.yaml" --set server.name=$d --set "server.parent=$TOP" \
    --set "plugins.redirect.parent_contact=$TOP" --set "plugins.registrar.domains=[C1.$d]"
  echo "    $d@C1       community  udp/tcp 127.0.0.1:${PORT[$d]}"
  for h in H1 H2; do
    start $d$h "$EXAMPLES/family.yaml" --set server.name=$h --set server.domain=C1.$d --set "server.parent=$TOP" \
      --set "plugins.redirect.parent_contact=sip:127.0.0.1:${PORT[$d]}" --set "plugins.registrar.domains=[C1.$d.$h]"
    echo "    $h@C1.$d    family     udp/tcp 127.0.0.1:${PORT[$d$h]}"
  done
done

say "each server registers upward: families start at the top and are redirected to their community"
for name in D1 D2 D1H1 D1H2 D2H1 D2H2; do
  for _ in $(seq 150); do grep -q "registered .* with" "$WORK/$name.log" && break; sleep 0.1; done
  grep -hE "302 from|registered .* with" "$WORK/$name.log" | sed 's/^\[[^]]*\] \[[^]]*\] \[[^]]*\] /    /'
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
  for u in U1 U2; do register_user $u $family; done
done

say "a user of a family that does not exist is refused at the top (404)"
sipp "127.0.0.1:${PORT[C1]}" -sf "$SCENARIOS/redirect_register.xml" -key user U1 -key domain C1.D9.H1 -m 1 \
  -nostdin -timeout 5s -timeout_error -i 127.0.0.1 -p "$(free_port)" -trace_msg -message_file "$WORK/404.msg" \
  >/dev/null 2>&1 || true
grep -m1 "^SIP/2.0 4" "$WORK/404.msg" | sed 's/^/    U1@C1.D9.H1: /'

if [ -x "$BIN/homesip-ua" ]; then
  say "redirect calls: INVITE to the caller's family server, 302 to the callee, INVITE straight to the callee"
  callee_port=$(free_port)
  "$BIN/homesip-ua" answer --aor U9@C1.D1.H1 --server "$TOP" --listen "udp:127.0.0.1:$callee_port" --calls 2 \
    --timeout 30 >"$WORK/callee.log" 2>&1 &
  PIDS+=($!)
  sleep 1
  echo "    within family C1.D1.H1: U1 calls U9"
  "$BIN/homesip-ua" call --aor U1@C1.D1.H1 --to U9@C1.D1.H1 --server "sip:127.0.0.1:${PORT[D1H1]}" --duration 1 \
    --listen "udp:127.0.0.1:$(free_port)" 2>&1 | sed 's/^/      /' || true
  echo "    between families: U1@C1.D2.H2 calls U9@C1.D1.H1"
  "$BIN/homesip-ua" call --aor U1@C1.D2.H2 --to U9@C1.D1.H1 --server "sip:127.0.0.1:${PORT[D2H2]}" --duration 1 \
    --listen "udp:127.0.0.1:$(free_port)" 2>&1 | sed 's/^/      /' || true
fi

say "the tree's state: who each server knows to be online (homesipctl bindings, over each server's admin socket)"
for name in C1 D1 D2 D1H1 D1H2 D2H1 D2H2; do
  echo "    $name  (homesipctl --socket $WORK/$name.sock bindings)"
  "$BIN/homesipctl" --socket "$WORK/$name.sock" bindings | sed 's/^/      /'
done

if [ $KEEP = 1 ]; then
  say "tree running; Ctrl-C stops it"
  wait
fi
say "stopping the tree"
