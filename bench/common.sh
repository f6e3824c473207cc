# What the bench scripts (run.sh, auth.sh, fair.sh, appliances.sh) share: stopping a server they started (by
# its PID, then the Kamailio workers recorded for it if they outlived it), the
# exit trap, free ports, the CPU a server, a process, the children or the machine used. Sourced after PID, KIDS, KEEP and WORK are set.
stop_server() {  # name
  local s=$1 p=${PID[$1]:-} k
  [ -n "$p" ] || return 0
  if kill -0 "$p" 2>/dev/null; then
    kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null || true
  fi
  wait "$p" 2>/dev/null || true
  for k in ${KIDS[$s]:-}; do   # Kamailio's workers normally exit with their parent
    if kill -0 "$k" 2>/dev/null && [ "$(awk '{print $4}' /proc/$k/stat 2>/dev/null)" = 1 ] \
       && grep -q kamailio /proc/$k/comm 2>/dev/null; then
      kill -KILL "$k" 2>/dev/null || true
    fi
  done
  unset "PID[$s]"; KIDS[$s]=
}

cleanup() {
  local rc=$?
  for s in "${!PID[@]}"; do stop_server "$s"; done
  if [ $KEEP = 1 ] || [ $rc != 0 ]; then echo "work directory kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {  # a UDP port free on 127.0.0.1
  python3 - <<'PY'
import socket, random
# outside the ephemeral range, where clients started meanwhile pick their ports
low, high = map(int, open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
first, last = (10000, low - 1) if low - 10000 >= 65535 - high else (high + 1, 65535)
for _ in range(500):
    p = random.randint(first, last)
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", p)); s.close()
        print(p); break
    except OSError:
        pass
PY
}

server_pids() {  # name -> main PID and (for kamailio) its children
  local s=$1 p=${PID[$1]}
  echo "$p"
  if [ "$s" = kamailio ]; then ps -o pid= --ppid "$p" 2>/dev/null || true; fi
}

cpu_ticks() {  # name -> utime+stime of the server's processes (all threads)
  local t=0 p
  for p in $(server_pids "$1"); do t=$(( t + $(pid_ticks "$p") )); done
  echo $t
}

pid_ticks() {  # PID -> utime+stime of the process (all threads), 0 when gone
  # bash builtins only: a sample of Kamailio's dozen processes must take milliseconds, not the
  # tenths of a second that a sed and an awk per process took, or the samples around a run
  # stretch its interval (the machine's busy time was then counted over a longer span).
  local line fields
  { read -r line </proc/"$1"/stat; } 2>/dev/null || { echo 0; return; }
  read -r -a fields <<<"${line##*) }"   # after the command name: state is field 0
  echo $(( fields[11] + fields[12] ))
}

# generator_fell_behind RETRANSMISSIONS REQUESTS RATE SENT_SECONDS -> 0 when the load generator
# was the limit of a failed step: its last request went out more than 5 % later than REQUESTS /
# RATE (its `sent` column) while it retransmitted for under 5 % of the requests. A busy thread is
# not a late one: below its ceiling it turns its loop per request or two instead of sleeping, near
# 100 % busy from about 60 000/s on against every server (the bare responder included), and sends
# more per turn as the rate rises. Late amid a storm of retransmissions, it is the server's drops
# that made it late.
generator_fell_behind() {
  [ "$1" -lt $(( $2 / 20 )) ] && awk -v s="${4:-0}" -v n="$2" -v r="$3" 'BEGIN { exit !(s > 1.05 * n / r) }'
}

busy_ticks() {  # all CPUs' busy time (user nice system irq softirq steal) from /proc/stat, in ticks
  awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}

write_between_markers() {  # DOC NAME REPORT: REPORT's lines replace those between <!-- NAME:begin -->
  # and <!-- NAME:end --> in DOC (both added at its end the first time); nothing else changes
  local doc=$1 begin="<!-- $2:begin -->" end="<!-- $2:end -->" report=$3
  grep -qxF "$begin" "$doc" || printf '\n%s\n%s\n' "$begin" "$end" >>"$doc"
  awk -v b="$begin" -v e="$end" -v rep="$report" '
    $0 == b { print; while ((getline l < rep) > 0) print l; skip = 1; next }
    $0 == e { skip = 0 }
    !skip { print }' "$doc" >"$doc.tmp" && mv "$doc.tmp" "$doc"
}

children_cpu_s() {  # FILE written by `times` -> user+sys seconds of the waited-for children (2nd line)
  sed -n 2p "$1" | awk '{ t = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] } printf "%.3f\n", t }'
}

