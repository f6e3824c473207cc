#!/bin/sh
# A zigbee2mqtt device for the tests: answers each command on TOPIC/set with
# a state message on TOPIC carrying the command's JSON (as a lamp that did
# what it was told), and writes "set <payload>" to LOG for each command and
# "ready" once subscribed (again after each reconnect). OPTIONS go to both
# mosquitto_sub and mosquitto_pub: credentials (-u, -P) or TLS (--cafile).
#   device_sim.sh PORT TOPIC LOG [OPTIONS...]
port=$1 topic=$2 log=$3
shift 3
# mosquitto_sub reconnects for ever: when the test stops this script by its
# PID (SIGTERM), the subscriber goes too instead of living on as an orphan.
# Hence a FIFO rather than a pipe: this shell knows the subscriber's PID.
dir=$(mktemp -d)
mkfifo "$dir/lines"
stdbuf -oL mosquitto_sub -h 127.0.0.1 -p "$port" "$@" -t "$topic/set" -d -i "sim-$$" >"$dir/lines" &
subscriber=$!
trap 'kill "$subscriber" 2>/dev/null; rm -rf "$dir"' EXIT
trap 'exit 0' INT TERM
while IFS= read -r line; do
  case "$line" in
    *SUBACK*) echo ready >>"$log" ;;
    '{'*)
      echo "set $line" >>"$log"
      mosquitto_pub -h 127.0.0.1 -p "$port" "$@" -t "$topic" -m "$line"
      ;;
  esac
done <"$dir/lines"
