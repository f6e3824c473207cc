#!/usr/bin/env python3
"""Idle round-trip time of a REGISTER refresh, in microseconds.

rtt_probe.py HOST PORT COUNT [USER]

Sends COUNT REGISTERs for USER@home.local one at a time (same Call-ID, growing CSeq, so the first
creates the binding and the rest refresh it), waits for each 200 before the next, and prints
"p50_us p99_us ok" where ok is the number of 200s. SIPp only measures whole milliseconds, so this
gives the unloaded latency (including e.g. a durable store's commit) at microsecond resolution.
Bounded: every request waits at most 1 s for its answer; traffic only to HOST:PORT.
"""
import socket
import sys
import time


def main() -> int:
    host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    user = sys.argv[4] if len(sys.argv) > 4 else "rttprobe"
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(1.0)
    lport = s.getsockname()[1]
    call_id = f"rtt-{lport}@bench"
    rtts = []
    for i in range(count):
        branch = f"z9hG4bK-rtt-{lport}-{i}"
        msg = (
            f"REGISTER sip:home.local SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch={branch}\r\n"
            f"Max-Forwards: 70\r\n"
            f"From: <sip:{user}@home.local>;tag=rtt{lport}\r\n"
            f"To: <sip:{user}@home.local>\r\n"
            f"Call-ID: {call_id}\r\n"
            f"CSeq: {i + 1} REGISTER\r\n"
            f"Contact: <sip:{user}@127.0.0.1:{lport};transport=udp>\r\n"
            f"Expires: 3600\r\n"
            f"User-Agent: homesip-bench-rtt\r\n"
            f"Content-Length: 0\r\n\r\n"
        ).encode()
        t0 = time.perf_counter_ns()
        s.sendto(msg, (host, port))
        try:
            while True:
                data, _ = s.recvfrom(65535)
                if branch.encode() in data:
                    break
        except socket.timeout:
            continue
        t1 = time.perf_counter_ns()
        if data.startswith(b"SIP/2.0 200"):
            rtts.append((t1 - t0) / 1000.0)
    if not rtts:
        print("- - 0")
        return 1
    rtts.sort()
    p = lambda q: rtts[min(len(rtts) - 1, int(q * len(rtts)))]
    print(f"{p(0.50):.0f} {p(0.99):.0f} {len(rtts)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
