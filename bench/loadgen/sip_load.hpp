// A SIP load over UDP from N sockets (or over N TCP connections) (request i from socket i mod N: a server
// spreading its loops by source port sees N sources) and one thread, batched (sendmmsg/recvmmsg):
//   REGISTER, with digest (REGISTER -> 401 -> REGISTER with Authorization -> 200) or without (-> 200);
//   INVITE to user i mod count -> the expected final (302, or 404), then the ACK of that final.
// Request i is for user i mod count and starts at start + i / rate (pattern even), or in bursts of
// B requests every B / rate seconds (pattern burst, like SIPp's 32 every 4 ms at 8000/s), rounded up
// to a tick of the generator's loop when one is set; a window bounds the transactions in flight.
// Retransmissions follow RFC 3261's timers E (non-INVITE: T1 doubling up to T2) and A (INVITE: T1 doubling).
// Bounded in requests, per-request time and total time. REGISTER may also honour a 503's Retry-After (retry
// the request after it, a few times at most) and follow a 302 to its Contact (a terminal finding its family
// server down the tree).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "users.hpp"

namespace homesip::loadgen {

enum class Method { kRegister, kInvite };
// UDP: --sockets sockets, retransmissions on RFC 3261's timers. TCP: --sockets connections to the
// server, opened before the clock starts, no retransmissions (a reliable transport).
enum class Transport { kUdp, kTcp };
enum class Pattern { kEven, kBurst };
// Per request: each REGISTER is a new binding of its user's AOR (new Call-ID). Per user: request i
// reuses its user's Call-ID "reg-USER@loadgen" with CSeq first_cseq + round, so a second run with a
// higher --cseq refreshes the bindings of the first (the same Contact needs the same local port).
enum class CallIdScope { kPerRequest, kPerUser };

struct LoadOptions {
  std::string server_host = "127.0.0.1";
  uint16_t server_port = 5060;
  std::string local_host = "127.0.0.1";
  // 0: any. A fixed port keeps the Contact of every run the same, so a later run refreshes the
  // bindings of an earlier one instead of adding one per user and run.
  uint16_t local_port = 0;
  uint32_t sockets = 1;  // local ports local_port .. local_port + sockets - 1 (0: any each)
  Transport transport = Transport::kUdp;
  UserSet users;
  // Not empty: user n's domain is domains[n mod size] instead of users.domain (terminals of many
  // families from one generator: bench/storm.sh). REGISTER without digest only.
  std::vector<std::string> domains;
  Method method = Method::kRegister;
  bool authenticate = true;       // REGISTER: answer the 401 with digest credentials
  std::string algorithm = "MD5";  // which offered challenge to answer
  CallIdScope call_id_scope = CallIdScope::kPerRequest;
  uint32_t first_cseq = 1;
  int expect_status = 302;  // INVITE: the final response that counts as success
  uint64_t requests = 1;
  double rate = 100;  // requests started per second, on average
  Pattern pattern = Pattern::kEven;
  uint32_t burst = 32;  // requests per burst (pattern burst)
  // > 0: the generator turns its loop once per tick_us (10 ms at most): the requests due in a tick
  // leave together at its end (never early) and responses are read once per turn. 0: each request
  // at its instant and each response as it comes, at the price of a sleep and a wake-up per request.
  uint32_t tick_us = 0;
  uint32_t window = 0;  // at most this many in flight (0: no bound)
  int expires = 3600;
  // REGISTER: a 503 with Retry-After is retried after it (plus up to 10% jitter), kMaxBusyRetries
  // times at most and never past max_seconds; without this a 503 is a failure (RFC 3261 21.5.4).
  bool honour_retry_after = false;
  // REGISTER: a 302 is followed: the same REGISTER (CSeq + 1) goes to its first Contact's host:port,
  // kMaxRedirects hops at most.
  bool follow_redirects = false;
  int timeout_ms = 8000;     // per attempt (a retry or a hop starts a new one), first send to final
  double max_seconds = 120;  // the whole run
};

struct LoadReport {
  uint64_t requests = 0;   // started
  uint64_t ok = 0;         // REGISTER: 200 (to the credentials); INVITE: the expected final
  uint64_t failed = 0;     // any other final response
  uint64_t timed_out = 0;  // no final response in time (or the run ended first)
  uint64_t retransmissions = 0;
  uint64_t extra_challenges = 0;  // a 401 to credentials (stale or replayed nonce) answered again
  uint64_t busy_503 = 0;          // 503s with Retry-After received (honour_retry_after)
  uint64_t busy_retries = 0;      // requests sent again after a Retry-After
  uint64_t redirects = 0;         // 302s followed (follow_redirects)
  uint32_t max_hops = 0;          // the most 302s one request followed
  std::map<int, uint64_t> failures_by_status;
  double send_seconds = 0;                     // first to last first send
  double elapsed_seconds = 0;                  // first send to last final response
  double achieved_per_second = 0;              // ok / elapsed_seconds
  int64_t p50_us = 0, p99_us = 0, max_us = 0;  // first send -> final, successful requests
  int64_t max_start_lag_us = 0;                // how late a request started (window full, or busy)
  double cpu_seconds = 0;                      // this process, user + system
  double cpu_us_per_request = 0;               // per started request
};

constexpr int kMaxBusyRetries = 5;
constexpr int kMaxRedirects = 8;

LoadReport run_load(const LoadOptions& options);

}  // namespace homesip::loadgen
