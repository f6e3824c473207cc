#!/usr/bin/env bash
# The management tree across separate hosts: one network namespace per server
# and one for the terminal, joined by veth pairs to a bridge in a namespace of
# its own, addresses 10.231.0.0/24 that exist only inside these namespaces.
# Nothing here uses loopback, so the tree must work on real addresses.
# Secured as the example configs are: the servers speak TLS to each other
# with certificates for their addresses (homesipctl pki), the users have
# passwords (homesip-ua --password-file).
# Needs root (ip netns); skipped with exit 77 otherwise.
set -euo pipefail
HOMESIPD=$1; PLUGINS=$2; EXAMPLES=$3; SCENARIOS=$4
HOMESIPCTL=$(dirname "$HOMESIPD")/homesipctl
UA=$(dirname "$HOMESIPD")/homesip-ua
if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null; then echo "SKIP: needs root and iproute2"; exit 77; fi

tag=hs$$
work=$(mktemp -d /tmp/homesip-netns-XXXXXX)
hosts=(c1 d1 h1 u1)
declare -A addr=([c1]=10.231.0.11 [d1]=10.231.0.12 [h1]=10.231.0.13 [u1]=10.231.0.21)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  for h in "${hosts[@]}"; do ip netns del "$tag-$h" 2>/dev/null || true; done
  ip netns del "$tag-br" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

ip netns add "$tag-br"
ip -n "$tag-br" link add br0 type bridge
ip -n "$tag-br" link set br0 up
for h in "${hosts[@]}"; do
  ns=$tag-$h
  ip netns add "$ns"
  ip link add "v$tag$h" type veth peer name "p$tag$h"
  ip link set "v$tag$h" netns "$ns"
  ip link set "p$tag$h" netns "$tag-br"
  ip -n "$tag-br" link set "p$tag$h" master br0 up
  ip -n "$ns" link set "v$tag$h" name eth0
  ip -n "$ns" addr add "${addr[$h]}/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
done

# One CA, one certificate per server naming its AOR and its address.
"$HOMESIPCTL" pki init "$work/pki" >/dev/null
declare -A aor=([c1]=C1 [d1]=D1@C1 [h1]=H1@C1.D1)
for h in c1 d1 h1; do
  "$HOMESIPCTL" pki issue "$work/pki" "${aor[$h]}" --ip "${addr[$h]}" --out "$work/tls-$h" >/dev/null
done
serve() {  # host config --set...
  local h=$1 config=$2; shift 2
  ip netns exec "$tag-$h" "$HOMESIPD" --config "$config" --set "server.plugin_dirs=[$PLUGINS]" \
    --set "server.listen=[tls:${addr[$h]}:5061, udp:${addr[$h]}:5060]" \
    --set "server.tls_certificates=$work/tls-$h" --set "plugins.location-sqlite.path=$work/$h.sqlite" \
    --set "plugins.auth-digest.secret_file=$work/$h.nonce-secret" \
    --set "server.admin_socket=$work/$h.sock" "$@" >"$work/$h.log" 2>&1 &
  pids+=($!)
}
tree_of() { "$HOMESIPCTL" --socket "$work/$1.sock" --json tree 2>&1 || true; }  # host
top=sips:${addr[c1]}:5061
# The example configs with this host's address: only the tree's top (and a
# shorter lease) differ from the files; the parent is learned from the top.
serve h1 "$EXAMPLES/family.yaml" --set "plugins.tree.top=$top" --set plugins.tree.register_expires=30
serve d1 "$EXAMPLES/community.yaml" --set "plugins.tree.top=$top" --set plugins.tree.register_expires=30
serve c1 "$EXAMPLES/province.yaml"

# H1 registered at the top, was sent to D1, and D1 said 200: D1 is its parent.
parent_is_d1() { tree_of h1 | grep -Eq "\"parent\": \"[^\"]*${addr[d1]}:5061"; }
for _ in $(seq 100); do parent_is_d1 && break; sleep 0.2; done
if ! parent_is_d1; then
  echo "H1 did not register through C1 to D1:"; tree_of h1; cat "$work/h1.log" "$work/d1.log" "$work/c1.log"; exit 1
fi

# The users and their passwords at the family server.
for u in U1 U2; do
  (umask 077 && echo "$u-pass.word" >"$work/$u.password")
  "$HOMESIPCTL" --socket "$work/h1.sock" user add "$u@C1.D1.H1" --password-file "$work/$u.password" >/dev/null
done
# The terminal, on its own host, registers through the top (UDP) with two
# redirects, the second hop over TLS, and its password at H1.
if ! ip netns exec "$tag-u1" "$UA" register --aor U1@C1.D1.H1 --server "sip:${addr[c1]}:5060" \
    --ca "$work/pki/cafile.pem" --password-file "$work/U1.password" --listen "udp:${addr[u1]}:5070" --once \
    >"$work/u1.out" 2>&1; then
  echo "U1 redirect registration failed:"; cat "$work/u1.out"; exit 1
fi
grep -q -- "-> sip:${addr[c1]}:5060: 302 Moved Temporarily -> sips:D1@${addr[d1]}:5061" "$work/u1.out" \
  || { echo "first 302 did not name D1:"; cat "$work/u1.out"; exit 1; }
grep -q -- "-> sips:D1@${addr[d1]}:5061: 302 Moved Temporarily -> sips:H1@${addr[h1]}:5061" "$work/u1.out" \
  || { echo "second 302 did not name H1:"; cat "$work/u1.out"; exit 1; }
"$HOMESIPCTL" --socket "$work/h1.sock" --json bindings U1@C1.D1.H1 | grep -q "${addr[u1]}" \
  || { echo "H1 holds no binding for U1 from ${addr[u1]}"; exit 1; }
# Any server finds U1's family server through the tree (homesipctl locate at the top).
"$HOMESIPCTL" --socket "$work/c1.sock" --json locate U1@C1.D1.H1 | grep -q "\"family_server\": \"[^\"]*${addr[h1]}:5061" \
  || { echo "locate at C1 did not find H1"; "$HOMESIPCTL" --socket "$work/c1.sock" --json locate U1@C1.D1.H1; exit 1; }
# Behind NAT: U2's Contact names a private address; H1's 302 must point to where
# the REGISTER really came from (the u1 host), so a caller can reach it.
ip netns exec "$tag-u1" "$UA" register --aor U2@C1.D1.H1 --server "sip:${addr[h1]}:5060" \
  --password-file "$work/U2.password" --listen "udp:${addr[u1]}:5072" --contact "sip:U2@192.168.77.5:5072" --once \
  >"$work/nat.out" 2>&1 || { echo "NAT registration failed"; cat "$work/nat.out"; exit 1; }
ip netns exec "$tag-c1" sipp "${addr[h1]}:5060" -sf "$SCENARIOS/nat_invite.xml" -key user U2 -key domain C1.D1.H1 \
  -m 1 -nostdin -timeout 10s -timeout_error -i "${addr[c1]}" -p 5074 >"$work/nat-invite.out" 2>&1 \
  || { echo "302 for the NATed callee does not point to its source address"; cat "$work/nat-invite.out" | head -40; exit 1; }
echo "netns tree: H1 registered via C1 -> D1; U1 registered via C1 -> D1 -> H1 and located from C1 across 4 hosts"
