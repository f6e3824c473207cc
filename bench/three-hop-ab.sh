#!/bin/bash
# bench/three-hop-ab.sh: same-day A/B of the idle three-hop redirect registration (C1 -> 302 -> D1 -> 302 -> H1 -> 200):
# the build before the tree plugin (5918012, its own configs: server.parent, redirect) against the
# current build (tree block), alternating, ROUNDS rounds of N users each, one at a time.
set -euo pipefail
N=${N:-1000} ROUNDS=${ROUNDS:-3}
ROOT=$(dirname "$(dirname "$(readlink -f "$0")")")
NEW=${NEW:-$ROOT} BASE=${BASE:-$ROOT/build-base/5918012}  # BASE: a worktree with its build/ (./homesip bench --base REV makes one)
WORK=$(mktemp -d /tmp/ab3hop-XXXXXX)
declare -A PID PORT
free_port() { python3 -c 'import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
cleanup() { for p in "${PID[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
start() {  # side name config --set...
  local side=$1 name=$2 config=$3 port bin plugins; shift 3
  port=$(free_port); PORT[$name]=$port
  if [ "$side" = new ]; then bin=$NEW/build/bin/homesipd plugins=$NEW/build/lib/homesip/plugins
  else bin=$BASE/build/bin/homesipd plugins=$BASE/build/lib/homesip/plugins; fi
  "$bin" --config "$config" --set "server.plugin_dirs=[$plugins]" --set "server.listen=[udp:127.0.0.1:$port]" \
    --set "plugins.location-sqlite.path=$WORK/$side-$name.sqlite" "$@" >"$WORK/$side-$name.log" 2>&1 &
  PID[$name]=$!
}
wait_for() { for _ in $(seq 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "timeout: $1 $2" >&2; tail "$1" >&2; return 1; }
round() {  # side -> prints the probe line
  local side=$1 ex top
  if [ "$side" = new ]; then ex=$NEW/config/examples; else ex=$BASE/config/examples; fi
  rm -f "$WORK"/$side-*.sqlite*
  start "$side" C1 "$ex/province.yaml"; wait_for "$WORK/$side-C1.log" serving
  top="sip:127.0.0.1:${PORT[C1]}"
  if [ "$side" = new ]; then
    start new D1 "$ex/community.yaml" --set "plugins.tree.top=$top"; wait_for "$WORK/new-D1.log" "registered D1@C1 with"
    start new H1 "$ex/family.yaml" --set "plugins.tree.top=$top"; wait_for "$WORK/new-H1.log" "registered H1@C1.D1 with"
  else
    start base D1 "$ex/community.yaml" --set "server.parent=$top" --set "plugins.redirect.parent_contact=$top" \
      --set "plugins.registrar.domains=[C1.D1]"; wait_for "$WORK/base-D1.log" "registered D1@C1 with"
    start base H1 "$ex/family.yaml" --set "server.parent=$top" --set "plugins.redirect.parent_contact=sip:127.0.0.1:${PORT[D1]}" \
      --set "plugins.registrar.domains=[C1.D1.H1]"; wait_for "$WORK/base-H1.log" "registered H1@C1.D1 with"
  fi
  sleep 1
  timeout $((N + 30)) python3 "$ROOT/bench/rtt_probe.py" --redirect 127.0.0.1 "${PORT[C1]}" "$N" C1.D1.H1 B
  for n in H1 D1 C1; do kill "${PID[$n]}"; wait "${PID[$n]}" 2>/dev/null || true; PID[$n]=""; done
}
echo "# $(date -u +%FT%TZ) N=$N ROUNDS=$ROUNDS; fields: p50 p99 ok hops mean max per-request-p50s (us)"
for r in $(seq "$ROUNDS"); do
  for side in base new; do echo "$side round $r: $(round $side)"; done
done
