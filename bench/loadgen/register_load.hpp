// An authenticated REGISTER load over UDP: request i is sent at start + i / rate (evenly spaced,
// not in bursts), for user i mod count; REGISTER -> 401 -> REGISTER with Authorization -> 200.
// Single-threaded, one socket; bounded in requests, per-request time and total time.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "users.hpp"

namespace homesip::loadgen {

struct LoadOptions {
  std::string server_host = "127.0.0.1";
  uint16_t server_port = 5060;
  std::string local_host = "127.0.0.1";
  // 0: any. A fixed port keeps the Contact of every run the same, so a later run refreshes the
  // bindings of an earlier one instead of adding one per user and run.
  uint16_t local_port = 0;
  UserSet users;
  uint64_t requests = 1;
  double rate = 100;              // authenticated REGISTERs started per second
  std::string algorithm = "MD5";  // which offered challenge to answer
  int expires = 3600;
  int timeout_ms = 8000;     // per REGISTER, from its first send to the 200
  double max_seconds = 120;  // the whole run
};

struct LoadReport {
  uint64_t requests = 0;   // started
  uint64_t ok = 0;         // 200 to the REGISTER with credentials
  uint64_t failed = 0;     // any other final response
  uint64_t timed_out = 0;  // no final response in time (or the run ended first)
  uint64_t retransmissions = 0;
  uint64_t extra_challenges = 0;  // a 401 to credentials (stale or replayed nonce) answered again
  std::map<int, uint64_t> failures_by_status;
  double send_seconds = 0;                     // first to last first send
  double elapsed_seconds = 0;                  // first send to last final response
  double achieved_per_second = 0;              // ok / elapsed_seconds
  int64_t p50_us = 0, p99_us = 0, max_us = 0;  // first send -> 200, successful REGISTERs
  double cpu_seconds = 0;                      // this process, user + system
  double cpu_us_per_request = 0;               // per started REGISTER (two transactions)
};

LoadReport run_register_load(const LoadOptions& options);

}  // namespace homesip::loadgen
