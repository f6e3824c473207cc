#!/usr/bin/env bash
# One call between two ordinary phones of different families of a running tree:
# baresip as U1@DOMAIN1 at the family server on PORT1 calls linphonec as
# U2@DOMAIN2 at the family server on PORT2. Each phone uses its family server
# as registrar and outbound proxy (docs/phones.md); the caller's family server
# resolves U2 through the tree and forwards the INVITE; 200, ACK and BYE go
# phone to phone. Prints what happened in a few lines; stops both phones by PID.
#
# usage: phone-call.sh PORT1 PORT2 [DOMAIN1 [DOMAIN2]]   (defaults C1.D1.H1, C1.D2.H2)
#        PASSWORD1, PASSWORD2 in the environment: U1's and U2's passwords at
#        their family servers (auth-digest), when they have one.
# exit: 0 the call was established and ended normally (or the phones are not
#       installed: it says so), 1 it was not (the phones' output is kept), 2 usage.
set -uo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 PORT1 PORT2 [DOMAIN1 [DOMAIN2]]" >&2
  exit 2
fi
PORT1=$1 PORT2=$2 DOMAIN1=${3:-C1.D1.H1} DOMAIN2=${4:-C1.D2.H2}
CALLER=U1@$DOMAIN1 CALLEE=U2@$DOMAIN2
PASSWORD1=${PASSWORD1:-} PASSWORD2=${PASSWORD2:-}
HOLD_SECONDS=3

say() { printf '    %s\n' "$*"; }
for program in baresip linphonec stdbuf; do
  if ! command -v $program >/dev/null; then
    say "phone call skipped: $program is not installed (apt-get install baresip linphone-cli)"
    exit 0
  fi
done

WORK=$(mktemp -d /tmp/homesip-phones-XXXXXX)
PHONE_PIDS=()
stop_phones() {
  # Writers closed, then each phone by its PID: TERM, and KILL if it lingers.
  exec 3>&- 4>&- 2>/dev/null
  for pid in "${PHONE_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${PHONE_PIDS[@]}"; do
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
}
trap stop_phones EXIT

# N ports free on 127.0.0.1, outside the ephemeral range (one python for all: it is slow to start)
free_ports() {
  python3 -c '
import socket, random, sys
low, high = map(int, open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
first, last = (10000, low - 1) if low - 10000 >= 65535 - high else (high + 1, 65400)
found = set()
for _ in range(1000):
    if len(found) == int(sys.argv[1]): break
    p = random.randint(first, last)
    try:
        for t in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            s = socket.socket(socket.AF_INET, t); s.bind(("127.0.0.1", p)); s.close()
        # baresip takes ten RTP ports from its first
        if all(abs(p - q) > 10 for q in found): found.add(p)
    except OSError:
        pass
print(" ".join(map(str, found)))' "$1"
}
read -r BARESIP_SIP BARESIP_RTP LINPHONE_SIP LINPHONE_AUDIO LINPHONE_VIDEO LINPHONE_TEXT <<<"$(free_ports 6)"

# waits up to SECONDS for PATTERN (extended regex) in FILE
wait_for() {
  local file=$1 pattern=$2 seconds=$3
  for _ in $(seq $((seconds * 10))); do
    grep -aqE "$pattern" "$file" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
# the first line of FILE matching PATTERN, without baresip's audio meter
line_of() { grep -aoE "$2" "$1" | head -1; }

# baresip: the account line of docs/phones.md; a 440 Hz tone as its microphone.
B=$WORK/baresip
mkdir -p "$B"
cat >"$B/config" <<EOF
poll_method epoll
sip_listen 127.0.0.1:$BARESIP_SIP
net_interface 127.0.0.1
module_path /usr/lib/baresip/modules
audio_player aufile,$B/heard.wav
audio_source ausine,440
ausrc_srate 48000
ausrc_channels 2
audio_alert aufile,$B/alert.wav
rtp_ports $BARESIP_RTP-$((BARESIP_RTP + 9))
module stdio.so
module g711.so
module ausine.so
module aufile.so
module_tmp account.so
module_app menu.so
EOF
# With a password (docs/security.md): auth_pass; the user name is the AOR's user part.
echo "<sip:$CALLER>;regint=60;outbound=\"sip:127.0.0.1:$PORT1\";answermode=auto${PASSWORD1:+;auth_pass=$PASSWORD1}" \
  >"$B/accounts"
: >"$B/contacts"

# linphonec: the [proxy_0] settings of docs/phones.md; sound from and to files.
L=$WORK/linphone
mkdir -p "$L/home/.local/share/linphone"
cat >"$L/linphonerc" <<EOF
[sip]
sip_port=$LINPHONE_SIP
sip_tcp_port=0
sip_tls_port=0
bind_address=127.0.0.1
use_ipv6=0
default_proxy=0
register_only_when_network_is_up=0
keepalive_period=0
ping_with_options=0
[rtp]
audio_rtp_port=$LINPHONE_AUDIO
video_rtp_port=$LINPHONE_VIDEO
text_rtp_port=$LINPHONE_TEXT
[video]
enabled=0
capture=0
display=0
[sound]
echocancellation=0
[proxy_0]
reg_proxy=<sip:127.0.0.1:$PORT2>
reg_route=<sip:127.0.0.1:$PORT2;lr>
reg_identity="U2" <sip:$CALLEE>
reg_expires=60
reg_sendregister=1
publish=0
EOF
# With a password: linphone's [auth_info_0]; the realm is the family's domain.
if [ -n "$PASSWORD2" ]; then
  printf '[auth_info_0]\nusername=U2\npasswd=%s\nrealm=%s\n' "$PASSWORD2" "$DOMAIN2" >>"$L/linphonerc"
fi

# Each phone reads its commands from a FIFO held open here (fd 3, fd 4).
mkfifo "$B/commands" "$L/commands"
stdbuf -oL -eL baresip -f "$B" -s -t 60 <"$B/commands" >"$B/output.log" 2>&1 &
PHONE_PIDS+=($!)
exec 3>"$B/commands"
HOME=$L/home XDG_DATA_HOME=$L/home/.local/share XDG_CONFIG_HOME=$L/home/.config \
  stdbuf -oL -eL linphonec -a -c "$L/linphonerc" -d 6 -l "$L/linphone.log" <"$L/commands" >"$L/output.log" 2>&1 &
PHONE_PIDS+=($!)
exec 4>"$L/commands"
echo "soundcard use files" >&4

say "baresip   $CALLER  registrar and outbound proxy: its family server 127.0.0.1:$PORT1"
say "linphonec $CALLEE  registrar and outbound proxy: its family server 127.0.0.1:$PORT2"
ok=1
wait_for "$B/output.log" '\{0/UDP/v4\} 200 OK' 10 && say "baresip   registered (200 OK)" || { say "baresip did not register"; ok=0; }
wait_for "$L/linphone.log" 'to \[LinphoneRegistrationOk\]' 10 && say "linphonec registered (200 OK)" || {
  say "linphonec did not register"
  ok=0
}

if [ $ok = 1 ]; then
  say "baresip dials sip:$CALLEE: INVITE to 127.0.0.1:$PORT1, which finds U2 through the tree and forwards it"
  echo "/dial sip:$CALLEE" >&3
  if wait_for "$B/output.log" 'Call established: ' 10 && wait_for "$L/output.log" 'Media streams established with' 5; then
    say "linphonec: $(line_of "$L/output.log" 'Call [0-9]+ with .* connected\.')"
    say "baresip:   $(line_of "$B/output.log" 'Call established: [^ ]*')"
    say "... $HOLD_SECONDS s of a 440 Hz tone (G.711), RTP phone to phone"
    sleep $HOLD_SECONDS
    say "baresip hangs up: its BYE goes straight to linphonec (no server keeps the call)"
    echo "/hangup" >&3
    if wait_for "$L/output.log" 'ended \(No error\)' 5 && wait_for "$B/output.log" 'terminated \(duration' 3; then
      say "linphonec: $(line_of "$L/output.log" 'Call [0-9]+ with .* ended \(No error\)\.')"
      say "baresip:   $(line_of "$B/output.log" 'Call with [^ ]* terminated \(duration: [0-9]+ secs\)')"
    else
      say "the call did not end normally"
      ok=0
    fi
  else
    say "the call was not established: $(line_of "$B/output.log" 'session closed: .*')"
    ok=0
  fi
fi

# Both leave in order (they unregister), then stop_phones makes sure.
echo "/quit" >&3
echo "quit" >&4
for pid in "${PHONE_PIDS[@]}"; do
  for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
done
if [ $ok = 1 ]; then
  rm -rf "$WORK"
  exit 0
fi
say "phone output kept in $WORK (baresip/output.log, linphone/output.log, linphone/linphone.log)"
exit 1
