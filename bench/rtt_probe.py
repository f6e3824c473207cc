#!/usr/bin/env python3
"""Idle round-trip times at microsecond resolution (SIPp only measures whole milliseconds).

rtt_probe.py HOST PORT COUNT [USER]
    Refresh mode. Sends COUNT REGISTERs for USER@home.local one at a time (same Call-ID, growing
    CSeq, so the first creates the binding and the rest refresh it), waits for each 200 before the
    next, and prints "p50_us p99_us ok" where ok is the number of 200s. This is the unloaded
    latency of a refresh (including e.g. a durable store's commit).

rtt_probe.py --redirect HOST PORT COUNT DOMAIN [PREFIX [MAX_HOPS]]
    Redirect-registration mode (the management tree's user registration, paper Fig. 4). For
    n = 1..COUNT, one at a time: REGISTER PREFIX<n>@DOMAIN (a user never registered before) to
    HOST:PORT (the top server); on a 302 send the REGISTER again (same Call-ID, CSeq + 1, new
    branch, Max-Forwards - 1) to the host:port of the 302's first Contact, until a 200; that is one
    registration, timed from the first send to the 200. Prints
    "p50_us p99_us ok hops mean_us max_us hop1_p50 hop2_p50 ...": ok = registrations that ended
    in a 200, hops = the most common number of requests per registration (3 for C1 -> D1 -> H1),
    then the median of each request's own round trip (hop k = k-th REGISTER -> its answer).
    A registration that gets anything else (404, timeout, too many hops) is not counted.

rtt_probe.py --invite HOST PORT AOR
    One INVITE sip:AOR to HOST:PORT (what bench/scenarios/invite302-aor.xml sends), answered by
    an ACK if the final answer is not a 2xx; prints "STATUS HOST:PORT" of the final answer and its
    first Contact ("-" when it has none), e.g. "302 127.0.0.1:5120": where a redirect sends a call.

Bounded: every request waits at most 1 s for its answer (no retransmission: on loopback and idle a
loss would be a finding, not noise); traffic only to HOST:PORT and the addresses the 302s name;
the local socket is bound to 127.0.0.1 on a free port.
"""
import re
import socket
import sys
import time
from collections import Counter

CONTACT_RE = re.compile(rb"^(?:Contact|m)\s*:[^\r\n]*?<?sips?:(?:[^@>;\s]+@)?([0-9.]+|\[[^\]]+\]|[A-Za-z0-9.-]+):([0-9]+)",
                        re.IGNORECASE | re.MULTILINE)


def pct(sorted_values, q):
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def register_msg(ruri, lport, branch, user, domain, call_id, cseq, max_forwards=70, expires=3600):
    return (
        f"REGISTER {ruri} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch={branch}\r\n"
        f"Max-Forwards: {max_forwards}\r\n"
        f"From: <sip:{user}@{domain}>;tag=rtt{lport}\r\n"
        f"To: <sip:{user}@{domain}>\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} REGISTER\r\n"
        f"Contact: <sip:{user}@127.0.0.1:{lport};transport=udp>\r\n"
        f"Expires: {expires}\r\n"
        f"User-Agent: homesip-bench-rtt\r\n"
        f"Content-Length: 0\r\n\r\n"
    ).encode()


def transact(s, msg, dest, branch):
    """Send msg to dest, return (final response bytes or None, elapsed ns). Skips 1xx."""
    t0 = time.perf_counter_ns()
    s.sendto(msg, dest)
    try:
        while True:
            data, _ = s.recvfrom(65535)
            if branch.encode() in data and not data.startswith(b"SIP/2.0 1"):
                return data, time.perf_counter_ns() - t0
    except socket.timeout:
        return None, time.perf_counter_ns() - t0


def refresh_mode(host, port, count, user):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(1.0)
    lport = s.getsockname()[1]
    call_id = f"rtt-{lport}@bench"
    rtts = []
    for i in range(count):
        branch = f"z9hG4bK-rtt-{lport}-{i}"
        msg = register_msg("sip:home.local", lport, branch, user, "home.local", call_id, i + 1)
        data, ns = transact(s, msg, (host, port), branch)
        if data is not None and data.startswith(b"SIP/2.0 200"):
            rtts.append(ns / 1000.0)
    if not rtts:
        print("- - 0")
        return 1
    rtts.sort()
    print(f"{pct(rtts, 0.50):.0f} {pct(rtts, 0.99):.0f} {len(rtts)}")
    return 0


def redirect_mode(host, port, count, domain, prefix, max_hops):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(1.0)
    lport = s.getsockname()[1]
    totals, hop_counts, per_hop, failures = [], Counter(), {}, Counter()
    for n in range(1, count + 1):
        user = f"{prefix}{n}"
        call_id = f"rreg-{lport}-{n}@bench"
        dest = (host, port)
        ok, hop_ns = False, []
        t0 = time.perf_counter_ns()
        for hop in range(1, max_hops + 1):
            branch = f"z9hG4bK-rreg-{lport}-{n}-{hop}"
            msg = register_msg(f"sip:{dest[0]}:{dest[1]}", lport, branch, user, domain, call_id, hop,
                               max_forwards=71 - hop)
            data, ns = transact(s, msg, dest, branch)
            if data is None:
                failures["timeout"] += 1
                break
            hop_ns.append(ns)
            if data.startswith(b"SIP/2.0 200"):
                ok = True
                break
            if data.startswith(b"SIP/2.0 302"):
                m = CONTACT_RE.search(data)
                if not m:
                    failures["302 without a usable Contact"] += 1
                    break
                dest = (m.group(1).decode().strip("[]"), int(m.group(2)))
                continue
            failures[data.split(b"\r\n", 1)[0].decode(errors="replace")[8:]] += 1
            break
        else:
            failures["too many hops"] += 1
        elapsed = time.perf_counter_ns() - t0
        if ok:
            totals.append(elapsed / 1000.0)
            hop_counts[len(hop_ns)] += 1
            for k, v in enumerate(hop_ns, 1):
                per_hop.setdefault(k, []).append(v / 1000.0)
    for what, c in failures.items():
        print(f"rtt_probe: {c} registrations failed: {what}", file=sys.stderr)
    if not totals:
        print("- - 0 0 - -")
        return 1
    totals.sort()
    hops = hop_counts.most_common(1)[0][0]
    hop_p50 = " ".join(f"{pct(sorted(per_hop[k]), 0.50):.0f}" for k in range(1, hops + 1))
    print(f"{pct(totals, 0.50):.0f} {pct(totals, 0.99):.0f} {len(totals)} {hops} "
          f"{sum(totals) / len(totals):.0f} {totals[-1]:.0f} {hop_p50}")
    return 0 if len(totals) == count else 1


def invite_mode(host, port, aor):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(1.0)
    lport = s.getsockname()[1]
    branch, call_id, tag = f"z9hG4bK-inv-{lport}", f"inv-{lport}@bench", f"inv{lport}"
    common = (f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch={branch}\r\n"
              f"Max-Forwards: 70\r\n"
              f"From: <sip:caller@127.0.0.1:{lport}>;tag={tag}\r\n")
    msg = (f"INVITE sip:{aor} SIP/2.0\r\n{common}"
           f"To: <sip:{aor}>\r\n"
           f"Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\n"
           f"Contact: <sip:caller@127.0.0.1:{lport}>\r\nContent-Length: 0\r\n\r\n").encode()
    data, _ = transact(s, msg, (host, port), branch)
    if data is None:
        print("timeout -")
        return 1
    status = data.split(b" ", 2)[1].decode(errors="replace")
    if not status.startswith("2"):  # RFC 3261 17.1.1.3: ACK a non-2xx final answer, same branch
        to = re.search(rb"^(?:To|t)\s*:\s*([^\r\n]*)", data, re.IGNORECASE | re.MULTILINE)
        to_value = to.group(1).decode(errors="replace") if to else f"<sip:{aor}>"
        s.sendto((f"ACK sip:{aor} SIP/2.0\r\n{common}To: {to_value}\r\n"
                  f"Call-ID: {call_id}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n").encode(), (host, port))
    m = CONTACT_RE.search(data)
    print(f"{status} {m.group(1).decode() + ':' + m.group(2).decode() if m else '-'}")
    return 0


def main() -> int:
    args = sys.argv[1:]
    if args and args[0] == "--redirect":
        if len(args) < 5:
            print(__doc__, file=sys.stderr)
            return 2
        host, port, count, domain = args[1], int(args[2]), int(args[3]), args[4]
        prefix = args[5] if len(args) > 5 else "R"
        max_hops = int(args[6]) if len(args) > 6 else 8
        return redirect_mode(host, port, count, domain, prefix, max_hops)
    if args and args[0] == "--invite":
        if len(args) < 4:
            print(__doc__, file=sys.stderr)
            return 2
        return invite_mode(args[1], int(args[2]), args[3])
    if len(args) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    return refresh_mode(args[0], int(args[1]), int(args[2]), args[3] if len(args) > 3 else "rttprobe")


if __name__ == "__main__":
    sys.exit(main())
